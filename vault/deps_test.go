package vault_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are the packages (by import path prefix) that no vault package
// may depend on, each with the reason. Everything that reads a secret (the
// webhook and OIDC settings, `ovm secret put`, every provider) imports the
// vault, so what the vault imports, they all do.
var forbidden = map[string]string{
	"github.com/ovmdev/ovm/provider": "a provider's dependencies (a browser, the Organizations SDK) would reach every reader of a secret; providers import the vault, not the other way round",
	"github.com/chromedp/":           "the sign-up browser is the signup provider's; a vault never drives one",
	"github.com/ovmdev/ovm/engine":   "the engine sits above the vault (it is wired in cmd/ovm)",
	"github.com/ovmdev/ovm/store":    "secrets are kept out of the store on purpose",
	"github.com/ovmdev/ovm/httpapi":  "an edge; the vault is below every edge",
	"github.com/ovmdev/ovm/webui":    "an edge; the vault is below every edge",
	"github.com/ovmdev/ovm/cmd":      "the binary wires the vault; nothing imports it",
}

// maxDeps bounds each vault package's dependencies (go list -deps): all of
// them, and those outside the standard library. The Secrets Manager vault
// is the largest, with the AWS SDK's core and its one service client;
// inside provider/signup it had 336, 135 outside the standard library
// (63 of them chromedp's).
var maxDeps = map[string]struct{ all, nonStd int }{
	".":           {115, 3},
	"./vaulttest": {125, 4},
	"./smvault":   {275, 70},
}

func goListDeps(t *testing.T, pkg string) (all, nonStd []string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pkg).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		all = append(all, path)
		if std != "true" {
			nonStd = append(nonStd, path)
		}
	}
	return all, nonStd
}

func TestTheVaultImportsNoProvider(t *testing.T) {
	for pkg, limit := range maxDeps {
		t.Run(pkg, func(t *testing.T) {
			all, nonStd := goListDeps(t, pkg)
			for _, d := range nonStd {
				for prefix, why := range forbidden {
					if d == strings.TrimSuffix(prefix, "/") || strings.HasPrefix(d, strings.TrimSuffix(prefix, "/")+"/") {
						t.Errorf("%s depends on %s: %s", pkg, d, why)
					}
				}
			}
			t.Logf("%s: %d dependencies, %d outside the standard library", pkg, len(all), len(nonStd))
			if len(all) > limit.all || len(nonStd) > limit.nonStd {
				t.Errorf("%s has %d dependencies (%d outside the standard library), more than %d (%d): what did it start to import?\n%s",
					pkg, len(all), len(nonStd), limit.all, limit.nonStd, strings.Join(nonStd, "\n"))
			}
			if len(nonStd) == 0 || nonStd[len(nonStd)-1] == "" {
				t.Fatalf("go list gave no packages of %s", pkg)
			}
		})
	}
}
