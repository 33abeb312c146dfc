package httpapi_test

import (
	"os/exec"
	"testing"

	"github.com/ovmdev/ovm/internal/testtool"
)

// Spectral, the common OpenAPI linter, finds nothing in the document with
// its OpenAPI ruleset (.spectral.yaml: spectral:oas), not even a hint:
// every operation has an operationId, tags and a description, and no
// schema has an empty required list. It is the version pinned in
// tools/npm/package-lock.json.
func TestSpectralFindsNothingInTheDocument(t *testing.T) {
	spectral := testtool.NPMFile(t, ".bin/spectral")
	out, err := exec.Command(spectral, "lint", "openapi.json", "--ruleset", ".spectral.yaml", "--fail-severity=hint",
		"--format", "text").CombinedOutput()
	if err != nil {
		t.Fatalf("spectral lint openapi.json: %v\n%s", err, out)
	}
}

// Client generators name their methods after operationId: each operation
// has one, unique, and a tag and a description (what Spectral checks, here
// without it).
func TestEveryOperationHasAnIdATagAndADescription(t *testing.T) {
	doc, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			route := method + " " + path
			switch {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", route)
			case seen[op.OperationID] != "":
				t.Errorf("%s and %s share the operationId %s", route, seen[op.OperationID], op.OperationID)
			}
			seen[op.OperationID] = route
			if len(op.Tags) == 0 || op.Description == "" {
				t.Errorf("%s has no tag or no description", route)
			}
		}
	}
}
