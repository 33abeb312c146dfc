package httpapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ovmdev/ovm/httpapi"
)

// rawDo sends method path to the fixture's server without the contract
// check (the answers here are the same for every route).
func (f *fixture) rawDo(method, path string) resp {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func TestARequestLineTooLongIsRefusedAndNotLoggedWhole(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	huge := "H" + strings.Repeat("M", 500<<10)
	longPath := "/v1/leases/" + strings.Repeat("p", 500<<10)
	for _, c := range []struct{ name, method, path, run string }{
		{"a method of 500 KB on a route", huge, "/v1/leases", strings.Repeat("M", httpapi.MaxMethodBytes+1)},
		{"a method of 500 KB on no route", huge, "/nowhere", strings.Repeat("M", httpapi.MaxMethodBytes+1)},
		{"a method one byte too long", strings.Repeat("M", httpapi.MaxMethodBytes+1), "/healthz", strings.Repeat("M", httpapi.MaxMethodBytes+1)},
		{"a path of 500 KB", "GET", longPath, strings.Repeat("p", 1000)},
		{"a path of 500 KB and a method of 500 KB", huge, longPath, strings.Repeat("p", 1000)},
		{"a path one byte too long", "DELETE", "/v1/leases/" + strings.Repeat("p", httpapi.MaxPathBytes-len("/v1/leases/")+1), strings.Repeat("p", 1000)},
	} {
		t.Run(c.name, func(t *testing.T) {
			logged := f.logBuf.Len()
			r := f.rawDo(c.method, c.path)
			if r.status != 400 {
				t.Fatalf("%d %.300s", r.status, r.body)
			}
			if msg := r.wantError(t, 400, "invalid"); !strings.Contains(msg, "request line too long") || len(r.body) > 500 {
				t.Errorf("answer of %d bytes: %.300s", len(r.body), r.body)
			}
			log := f.logBuf.String()[logged:]
			if strings.Contains(log, c.run) {
				t.Errorf("the log holds the raw value (%d bytes logged)", len(log))
			}
			if len(log) > 2000 || !strings.Contains(log, "request line too long") {
				t.Errorf("the refusal logged %d bytes: %.500s", len(log), log)
			}
		})
	}
	// Within the bounds, a made-up method is a 405 and logged as sent, a
	// long path is logged cut short.
	logged := f.logBuf.Len()
	if r := f.rawDo("XM00001", "/v1/leases"); r.status != 405 {
		t.Fatalf("a made-up method: %d %s", r.status, r.body)
	}
	path := "/v1/leases/" + strings.Repeat("q", httpapi.MaxPathBytes-len("/v1/leases/"))
	if r := f.rawDo("GET", path); r.status != 401 {
		t.Fatalf("a path of %d bytes: %d %s", len(path), r.status, r.body)
	}
	log := f.logBuf.String()[logged:]
	if !strings.Contains(log, "method=XM00001") || strings.Contains(log, strings.Repeat("q", 300)) || !strings.Contains(log, "qqq...") {
		t.Errorf("request log:\n%.2000s", log)
	}
}

func TestGuardKeepsAnAbsurdRequestLineFromWhatItGuards(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	api := httpapi.New(f.store, f.eng, f.clock, slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Config{})
	reached := 0
	g := api.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ }))
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/ui/", 200},
		{"XM00001", "/ui/leases", 200},
		{strings.Repeat("M", httpapi.MaxMethodBytes+1), "/ui/", 400},
		{"GET", "/ui/" + strings.Repeat("p", httpapi.MaxPathBytes), 400},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Method, req.URL.Path = c.method, c.path
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Errorf("%.40s %.40s: %d, want %d", c.method, c.path, rec.Code, c.status)
		}
	}
	if reached != 2 {
		t.Errorf("the guarded handler saw %d requests, want the 2 within bounds", reached)
	}
}
