package webui_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/webui"
)

var placeholderRe = regexp.MustCompile(`\{([a-z]+)(\$?)\}`)

// fill makes a path of a route's pattern ("POST /ui/keys/{id}/revoke"),
// with ids[section] for {id} (the section is the path's second segment)
// and other[name] for the other placeholders.
func fill(t *testing.T, pattern string, ids, other map[string]string) (method, path string) {
	t.Helper()
	method, path, _ = strings.Cut(pattern, " ")
	section := strings.Split(path, "/")[2]
	path = placeholderRe.ReplaceAllStringFunc(path, func(ph string) string {
		m := placeholderRe.FindStringSubmatch(ph)
		if m[2] == "$" {
			return ""
		}
		v, ok := other[m[1]]
		if m[1] == "id" {
			v, ok = ids[section]
		}
		if !ok {
			t.Fatalf("%s: no value for %s under /ui/%s in this test: add one", pattern, ph, section)
		}
		return url.PathEscape(v)
	})
	return method, path
}

// state is what a form could change: leases, keys and accounts, with
// their versions.
func (f *fixture) state() string {
	ctx := context.Background()
	var b strings.Builder
	leases, _, err := f.store.LeaseList(ctx, &ovm.LeaseListParams{PageParams: ovm.PageParams{Limit: 1000}})
	keys, _, err2 := f.store.KeyList(ctx, &ovm.PageParams{Limit: 1000})
	accounts, _, err3 := f.store.AccountList(ctx, &ovm.AccountListParams{PageParams: ovm.PageParams{Limit: 1000}})
	if err != nil || err2 != nil || err3 != nil {
		f.t.Fatal(err, err2, err3)
	}
	for _, l := range leases {
		fmt.Fprintf(&b, "lease %s %s %d %s\n", l.ID, l.State, l.Version, l.ExpiresAt)
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "key %s %s %s\n", k.ID, k.Name, k.RevokedAt)
	}
	for _, a := range accounts {
		fmt.Fprintf(&b, "account %s %s %d\n", a.ID, a.State, a.Version)
	}
	return b.String()
}

// Every form of the console, as its router lists them, refuses a missing,
// forged, stale or other session's CSRF token, and changes nothing; the
// sign-in form refuses one that is not its own page's.
func TestEveryFormRefusesAMissingOrForgedToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	admin := f.browser()
	tok := admin.signIn(f.admin)
	user := f.browser()
	userTok := user.signIn(f.user)
	take := admin.post("/ui/leases", url.Values{"csrf": {tok}, "pool": {"default"}})
	if take.status != http.StatusSeeOther {
		t.Fatalf("take: %d", take.status)
	}
	lease, err := f.store.LeaseGet(ctx, strings.TrimPrefix(take.location, "/ui/leases/"))
	if err != nil {
		t.Fatal(err)
	}
	alice, err := f.store.KeyGetByHash(ctx, ovm.HashKey(f.user))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{"leases": lease.ID, "accounts": lease.AccountID, "keys": alice.ID, "deliveries": "dlv_none"}
	// Every field any form reads, valid, so that only the token is wrong.
	fields := url.Values{"pool": {"default"}, "ttl": {"1h"}, "extend_by": {"1h"}, "confirm": {"yes"},
		"name": {"forged"}, "role": {"admin"}, "key": {f.admin}}
	bad := map[string]string{"no token": "", "a forged token": "forged", "the token and one more character": tok + "x",
		"another session's token": userTok}

	before := f.state()
	forms := 0
	for _, rt := range f.ui.Routes() {
		if !strings.HasPrefix(rt.Pattern, "POST ") {
			continue
		}
		_, path := fill(t, rt.Pattern, ids, nil)
		forms++
		b := admin
		if path == "/ui/login" { // no session yet: a token of its own page
			b = f.browser()
			b.get("/ui/login")
			other := f.browser()
			bad["another session's token"] = csrf(t, other.get("/ui/login"))
			bad["the token and one more character"] = "x"
		}
		for name, token := range bad {
			form := url.Values{}
			for k, v := range fields {
				form[k] = v
			}
			if token != "" {
				form.Set("csrf", token)
			}
			p := b.post(path, form)
			if p.status != http.StatusForbidden || !strings.Contains(p.body, "security token is missing or stale") {
				t.Errorf("%s with %s: %d %s, want 403", rt.Pattern, name, p.status, p.location)
			}
		}
		if path == "/ui/login" {
			if p := b.get("/ui/"); p.status != http.StatusSeeOther {
				t.Errorf("a refused sign-in signed in: %d", p.status)
			}
			bad["another session's token"], bad["the token and one more character"] = userTok, tok+"x"
		}
		if after := f.state(); after != before {
			t.Fatalf("%s with a bad token changed the store:\n%s\nto\n%s", rt.Pattern, before, after)
		}
		if p := admin.get("/ui/"); p.status != http.StatusOK {
			t.Fatalf("%s with a bad token ended the session: %d", rt.Pattern, p.status)
		}
	}
	if forms < 13 {
		t.Fatalf("only %d forms in the router's table", forms)
	}
}

// The console itself refuses admin pages and forms to a user: over an API
// that answers 200 to everything, every admin route of the router's table
// still gets the 403 page, and the API is never asked. Which routes are
// admin's is the docs' table (docs/console.md): accounts, API keys,
// notification deliveries, every owner's leases and the freeze.
func TestTheConsoleRefusesAdminRoutesToAUserWithoutTheAPI(t *testing.T) {
	var (
		mu    sync.Mutex
		asked []string
	)
	role := ovm.RoleUser
	stub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.URL.Path)
		me := fmt.Sprintf(`{"name": "alice", "role": %q, "kind": "key"}`, role)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/me" {
			io.WriteString(w, me)
			return
		}
		io.WriteString(w, `{}`)
	})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ui, err := webui.New(stub, clocktest.New(t0), log, webui.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ui: ui, srv: httptest.NewServer(webui.Mount(stub, ui))}
	t.Cleanup(f.srv.Close)
	_, secret, _ := ovm.NewAPIKey("alice", ovm.RoleUser, t0)
	b := f.browser()
	tok := b.signIn(secret)

	adminSections := []string{"accounts", "keys", "deliveries"}
	// and, of the leases, every owner's list and the freeze.
	adminLeaseRoutes := []string{"GET /ui/leases", "POST /ui/leases/{id}/freeze", "POST /ui/leases/{id}/unfreeze"}
	ids := map[string]string{"leases": "lse_x", "accounts": "acc_x", "keys": "key_x", "deliveries": "dlv_x", "pools": "default"}
	other := map[string]string{"name": "default", "record": "rec_x", "file": "page.html"}
	admins := 0
	for _, rt := range ui.Routes() {
		method, path := fill(t, rt.Pattern, ids, other)
		section := strings.Split(path, "/")[2]
		if want := slices.Contains(adminSections, section) || slices.Contains(adminLeaseRoutes, rt.Pattern); rt.Admin != want {
			t.Errorf("%s: admin %v, want %v (docs/console.md's table)", rt.Pattern, rt.Admin, want)
		}
		if !rt.Admin {
			continue
		}
		admins++
		mu.Lock()
		asked = nil
		mu.Unlock()
		var p page
		if method == http.MethodPost {
			p = b.post(path, url.Values{"csrf": {tok}, "confirm": {"yes"}, "name": {"x"}, "role": {"admin"}})
		} else {
			p = b.get(path)
		}
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "This page is for admins") {
			t.Errorf("%s %s for a user: %d, want the 403 page", method, path, p.status)
		}
		mu.Lock()
		if len(asked) != 0 {
			t.Errorf("%s %s for a user asked the API: %v", method, path, asked)
		}
		mu.Unlock()
	}
	if admins < 9 {
		t.Fatalf("only %d admin routes in the router's table", admins)
	}
	// The stub would have served them: the same pages, to an admin, are
	// not refused.
	mu.Lock()
	role = ovm.RoleAdmin
	mu.Unlock()
	a := f.browser()
	a.signIn(secret)
	if p := a.get("/ui/keys"); p.status != http.StatusOK {
		t.Fatalf("an admin over the stub: %d", p.status)
	}
}
