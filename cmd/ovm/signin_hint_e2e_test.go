package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The console's sign-in page names the admin key file the server wrote,
// in its own data directory (it always said ovm-data/admin.key).
func TestTheSignInHintNamesTheRealKeyFile(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := newServer(t, "pools: [{name: default, stock: {target: 0}}]\n")
	s.start()
	page := s.do("GET", "/ui/login", "", "")
	want := filepath.Join(s.dir, "data", "admin.key")
	if page.status != 200 || !strings.Contains(string(page.body), "<code>"+want+"</code>") || strings.Contains(string(page.body), "ovm-data/admin.key") {
		t.Fatalf("sign-in page (%d) does not name %s:\n%s", page.status, want, page.body)
	}
}
