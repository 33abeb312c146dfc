package webui_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The embedded assets are served as files; no path under /ui/static/,
// however it is spelled, lists a directory.
func TestStaticServesFilesAndNeverListsADirectory(t *testing.T) {
	f := newFixture(t)
	get := func(path string) (int, string, string) {
		t.Helper()
		res, err := http.Get(f.srv.URL + path) // following redirects
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), string(b)
	}
	for path, ct := range map[string]string{"/ui/static/style.css": "text/css", "/ui/static/ovm.js": "javascript"} {
		if status, got, _ := get(path); status != http.StatusOK || !strings.Contains(got, ct) {
			t.Errorf("%s: %d %s", path, status, got)
		}
	}
	for _, path := range []string{"/ui/static/", "/ui/static", "/ui/static//", "/ui/static/./", "/ui/static/..%2f..%2f",
		"/ui/static/..%2f..%2fstatic%2f", "/ui/static/%2e%2e%2f", "/ui/static/..%2fstatic", "/ui/static/style.css/",
		"/ui/static/..%2f..%2fui%2fstatic%2f", "/ui/static/x/..%2f"} {
		status, _, body := get(path)
		listing := strings.Contains(body, `href="style.css"`) || strings.Contains(body, `href="ovm.js"`) ||
			strings.Contains(body, `href="static/"`) || strings.Contains(body, "<pre>")
		if status != http.StatusNotFound || listing {
			t.Errorf("%s: %d, want 404 without a listing:\n%s", path, status, body)
		}
	}
}
