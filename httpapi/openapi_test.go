package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/ovmdev/ovm/httpapi"
)

// contract is the API's OpenAPI document, loaded and validated once.
var contract = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI)
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(context.Background())
})

var contractRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := contract()
	if err != nil {
		return nil, err
	}
	doc.Servers = nil // match any host (httptest's)
	return legacy.NewRouter(doc)
})

func TestTheDocumentIsValidOpenAPI(t *testing.T) {
	if _, err := contract(); err != nil {
		t.Fatal(err)
	}
}

// TestTheDocumentListsEveryRouteAndNoOther compares the router's table with
// the document's paths and methods, both ways, and the roles.
func TestTheDocumentListsEveryRouteAndNoOther(t *testing.T) {
	doc, err := contract()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, httpapi.Config{})
	srv := httpapi.New(f.store, f.eng, f.clock, nil, httpapi.Config{})
	inTable := map[string]string{}
	for _, rt := range srv.Routes() {
		inTable[rt.Method+" "+rt.Pattern] = string(rt.Role)
	}
	inDoc := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			role, _ := op.Extensions["x-ovm-role"].(string)
			inDoc[method+" "+path] = role
		}
	}
	var missing, extra []string
	for k, role := range inTable {
		docRole, ok := inDoc[k]
		if !ok {
			missing = append(missing, k)
		} else if docRole != role {
			t.Errorf("%s needs role %q, the document says %q", k, role, docRole)
		}
	}
	for k := range inDoc {
		if _, ok := inTable[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("routes the document lacks: %v; documented routes the router lacks: %v", missing, extra)
	}
}

func TestTheDocumentIsServed(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	r := f.do("GET", "/openapi.json", "", "")
	if r.status != 200 || !bytes.Equal(r.body, httpapi.OpenAPI) || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

// checkAgainstContract validates one answer against the document: its
// status must be documented for the route, and its body must match the
// schema. Requests that match no documented route (unknown paths, HEAD)
// are not checked here.
func checkAgainstContract(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	router, err := contractRouter()
	if err != nil {
		t.Fatal(err)
	}
	if p := req.URL.Path; path.Clean(p) != p {
		return // "/v1/leases/" and the like name no route (a JSON 404)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		msg := err.Error()
		if len(msg) > 2000 {
			msg = msg[:2000]
		}
		t.Errorf("%s %s -> %d does not match the OpenAPI document: %s\nbody: %s", req.Method, req.URL.Path, status,
			strings.TrimSpace(msg), truncate(body))
	}
}

func truncate(b []byte) string {
	if len(b) > 500 {
		return string(b[:500]) + "..."
	}
	return string(b)
}
