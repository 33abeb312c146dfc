package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/provider/sim"
)

func TestHEADOfVendLeasesNothing(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	r := f.do("HEAD", "/vend", f.user, "")
	if r.status != 405 || r.header.Get("Allow") != "GET, POST" {
		t.Fatalf("HEAD /vend: %d, Allow %q", r.status, r.header.Get("Allow"))
	}
	leases, _, err := f.store.LeaseList(context.Background(), &ovm.LeaseListParams{})
	if err != nil || len(leases) != 0 {
		t.Fatalf("HEAD /vend left %d lease(s) (%v)", len(leases), err)
	}
	// HEAD of a read-only route still answers like its GET.
	if r := f.do("HEAD", "/v1/leases", f.user, ""); r.status != 200 {
		t.Fatalf("HEAD /v1/leases: %d", r.status)
	}
}

func TestVendNamesItsLeaseInLocation(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	r := f.do("GET", "/vend", f.user, "")
	m := vendRe.FindSubmatch(r.body)
	if r.status != 200 || m == nil {
		t.Fatalf("GET /vend: %d %q", r.status, r.body)
	}
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "/v1/leases/") {
		t.Fatalf("Location %q", loc)
	}
	var l client.Lease
	got := f.do("GET", loc, f.user, "")
	got.json(t, &l)
	if got.status != 200 || l.AccountID != string(m[1]) || l.State != "active" {
		t.Fatalf("the Location's lease %+v does not hold the vended account %s", l, m[1])
	}
	if r := f.do("DELETE", loc, f.user, ""); r.status != 200 {
		t.Fatalf("release through Location: %d %s", r.status, r.body)
	}
}

func TestAnEmptyPoolSaysWhyAndWhen(t *testing.T) {
	f := newFixtureVend(t, httpapi.Config{}, engine.VendConfig{PollInterval: 10 * time.Millisecond}, func(p *ovm.Pool) {
		p.Stock = ovm.StockPolicy{Target: 2, Ceiling: 2, MaxInFlight: 2}
		p.Lease.MaxPerOwner = 2
	})
	retryAfter := func(r resp) time.Duration {
		t.Helper()
		n, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || n < 1 {
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
		return time.Duration(n) * time.Second
	}
	// Nothing ordered yet: the planner orders at once.
	r := f.do("GET", "/vend", f.user, "")
	if msg := r.wantError(t, 503, "unavailable"); !strings.Contains(msg, "refilling: ordering 2 account(s) now") {
		t.Errorf("before the first tick: %q", msg)
	}
	// Ordered and on the way.
	if _, err := f.eng.RunOnce(context.Background(), engine.WorkerPlanner); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Second) // past the cached answer
	r = f.do("GET", "/vend", f.user, "")
	if msg := r.wantError(t, 503, "unavailable"); !strings.Contains(msg, "2 account(s) on the way (2 pending)") {
		t.Errorf("in flight: %q", msg)
	}
	// At the ceiling, with both accounts leased for an hour: the next
	// account is an hour away, and the answer says so.
	f.fill()
	for range 2 {
		if r := f.do("POST", "/v1/leases", f.user, `{"ttl":"1h"}`); r.status != 201 {
			t.Fatalf("lease: %d %s", r.status, r.body)
		}
	}
	f.clock.Advance(2 * time.Second)
	stop := make(chan struct{})
	go func() { // the fake clock moves on while the request waits
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				f.clock.Advance(300 * time.Millisecond)
			}
		}
	}()
	r = f.do("POST", "/v1/leases", f.admin, `{"wait":"1s"}`)
	close(stop)
	msg := r.wantError(t, 503, "unavailable")
	if !strings.Contains(msg, "ceiling of 2 live accounts reached") || !strings.Contains(msg, "after waiting 1s") {
		t.Errorf("at the ceiling: %q", msg)
	}
	if d := retryAfter(r); d < 55*time.Minute || d > 61*time.Minute {
		t.Errorf("at the ceiling with leases ending in an hour, Retry-After is %s", d)
	}
}

func TestInputTheContractRefuses(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	lease := f.do("POST", "/v1/leases", f.user, "")
	var l client.Lease
	lease.json(t, &l)
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string // in the message
	}{
		{"a field name in another case", "POST", "/v1/leases", `{"TTL":"1h"}`, 400, `field names are case-sensitive: "ttl"`},
		{"a field given twice", "POST", "/v1/leases", `{"ttl":"2h","ttl":"3h"}`, 400, `field "ttl" is given twice`},
		{"a null body", "POST", "/v1/leases", `null`, 400, "must be a JSON object, not null"},
		{"a list body", "POST", "/v1/leases", `[]`, 400, "must be a JSON object, not a list"},
		{"a zero ttl", "POST", "/v1/leases", `{"ttl":"0s"}`, 400, "ttl must be positive"},
		{"a zero extension", "PATCH", "/v1/leases/" + l.ID, `{"extend_by":"0s"}`, 400, "extend_by must be positive"},
		{"a control character in a label key", "POST", "/v1/leases", `{"labels":{"a\u0007":"b"}}`, 400, "control characters"},
		{"a control character in a label value", "POST", "/v1/leases", `{"labels":{"team":"a\nb"}}`, 400, "control characters"},
		{"a label of the wrong type", "POST", "/v1/leases", `{"labels":["a"]}`, 400, `field "labels" must be an object of strings`},
		{"a bad time", "PATCH", "/v1/leases/" + l.ID, `{"expires_at":"tomorrow"}`, 400, `"tomorrow" is not an RFC 3339 time`},
		{"a bad duration", "POST", "/v1/leases", `{"ttl":"forever"}`, 400, `invalid duration "forever"`},
		{"a label value of the wrong type", "POST", "/v1/leases", `{"labels":{"a":1}}`, 400, "label values must be strings"},
		{"a time of the wrong type", "PATCH", "/v1/leases/" + l.ID, `{"expires_at":1}`, 400, "times must be RFC 3339 strings"},
		{"a body that is not UTF-8", "POST", "/v1/leases", "{\"labels\":{\"a\":\"\xff\"}}", 400, "must be UTF-8"},
		{"a label key of 64 characters", "POST", "/v1/leases", `{"labels":{"` + strings.Repeat("é", 64) + `":"v"}}`, 400, "label keys must be 1-63 characters"},
		{"a path with ..", "GET", "/v1/leases/../keys", "", 404, "no route"},
		{"a path with //", "GET", "/v1//leases", "", 404, "no route"},
		{"a trailing slash", "GET", "/v1/leases/", "", 404, "no route"},
		{"an unknown lease", "GET", "/v1/leases/lse_nope", "", 404, "lease lse_nope: not found"},
		{"an unknown pool to lease from", "POST", "/v1/leases", `{"pool":"nope"}`, 404, `pool "nope": not found`},
		{"an unknown pool to read", "GET", "/v1/pools/nope", "", 404, `pool "nope": not found`},
	}
	// Label limits count characters, not bytes.
	if r := f.do("POST", "/v1/leases", f.admin, `{"labels":{"`+strings.Repeat("é", 63)+`":"`+strings.Repeat("ü", 256)+`"}}`); r.status != 201 {
		t.Errorf("a 63-character key and a 256-character value: %d %s", r.status, r.body)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.do(c.method, c.path, f.user, c.body)
			code := map[int]string{400: "invalid", 404: "not_found"}[c.status]
			msg := r.wantError(t, c.status, code)
			if !strings.Contains(msg, c.want) {
				t.Errorf("message %q, want it to contain %q", msg, c.want)
			}
			for _, bad := range []string{"httpapi.", "map[", "malformed json", "not found: not found", "[]string", "UnmarshalJSON", ": conflict"} {
				if strings.Contains(msg, bad) && !strings.Contains(c.body, "`") {
					t.Errorf("message %q holds %q", msg, bad)
				}
			}
		})
	}
}

func TestAnotherOwnersLeaseCannotBeReadChangedOrEnded(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	bob := f.key("bob", ovm.RoleUser)
	r := f.do("POST", "/v1/leases", f.user, `{"ttl":"1h"}`)
	var l client.Lease
	r.json(t, &l)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/v1/leases/" + l.ID, ""},
		{"PATCH", "/v1/leases/" + l.ID, `{"extend_by":"1h"}`},
		{"PATCH", "/v1/leases/" + l.ID, `{"expires_at":"` + t0.Add(2*time.Hour).Format(time.RFC3339) + `"}`},
		{"DELETE", "/v1/leases/" + l.ID, ""},
	} {
		f.do(c.method, c.path, bob, c.body).wantError(t, 404, "not_found")
	}
	got, err := f.store.LeaseGet(context.Background(), l.ID)
	if err != nil || got.State != ovm.LeaseActive || !got.ExpiresAt.Equal(l.ExpiresAt) || got.Version != 1 {
		t.Fatalf("bob's requests changed alice's lease: %+v (%v)", got, err)
	}
	var list client.Page[client.Lease]
	f.do("GET", "/v1/leases", bob, "").json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("bob lists alice's leases: %+v", list.Items)
	}
}

// adminOnly is this test's own account of which routes need an admin key:
// the operator's views and actions. It is kept apart from the route table
// on purpose, so that a role flipped in the table fails here.
var adminOnly = []string{"/v1/accounts", "/v1/keys", "/v1/phone/", "/v1/deliveries", "/v1/pools/{name}/demand",
	"/v1/leases/{id}/freeze", "/v1/leases/{id}/unfreeze"}

func TestEveryAdminRouteRefusesAUserKey(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	srv := httpapi.New(f.store, f.eng, f.clock, nil, httpapi.Config{})
	routes := srv.Routes()
	if len(routes) < 15 {
		t.Fatalf("only %d routes", len(routes))
	}
	checked := 0
	for _, rt := range routes {
		admin := false
		for _, p := range adminOnly {
			admin = admin || strings.HasPrefix(rt.Pattern, p)
		}
		want := ovm.RoleUser
		switch {
		case rt.Pattern == "/healthz" || rt.Pattern == "/openapi.json":
			want = ""
		case admin:
			want = ovm.RoleAdmin
		}
		if rt.Role != want {
			t.Errorf("%s %s needs role %q in the table, want %q", rt.Method, rt.Pattern, rt.Role, want)
		}
		if !admin {
			continue
		}
		path := strings.NewReplacer("{id}", "acc_x", "{number}", "+15550100", "{name}", "x").Replace(rt.Pattern)
		r := f.do(rt.Method, path, f.user, "{}")
		r.wantError(t, 403, "forbidden")
		checked++
	}
	if checked < 7 {
		t.Fatalf("only %d admin routes checked", checked)
	}
}

func TestAUserKeySeesCountsNotAccounts(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	if _, err := f.eng.RunOnce(context.Background(), engine.WorkerPlanner); err != nil {
		t.Fatal(err)
	}
	// An account that waits with an error, as a failing step leaves it.
	accts, _, err := f.store.AccountList(context.Background(), &ovm.AccountListParams{})
	if err != nil || len(accts) == 0 {
		t.Fatal(err)
	}
	u, err := ovm.RecordStepFailure(accts[0], ovm.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: time.Minute},
		"secret-looking detail", f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.AccountUpdate(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	user := string(f.do("GET", "/v1/pools/default", f.user, "").body)
	admin := string(f.do("GET", "/v1/pools/default", f.admin, "").body)
	if !strings.Contains(admin, "secret-looking detail") || !strings.Contains(admin, accts[0].Email) {
		t.Fatalf("the admin does not see the waiting account: %s", admin)
	}
	for _, hidden := range []string{"secret-looking detail", accts[0].Email, accts[0].ID, `"waiting"`} {
		if strings.Contains(user, hidden) {
			t.Errorf("a user key sees %q: %s", hidden, user)
		}
	}
	if !strings.Contains(user, `"pending":`) || !strings.Contains(user, `"max_per_owner"`) {
		t.Errorf("a user key does not see counts and policy: %s", user)
	}
}

func TestTwoAdminsRevokingEachOtherLeaveOneAdmin(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	ctx := context.Background()
	id := func(secret string) string {
		k, err := f.store.KeyGetByHash(ctx, ovm.HashKey(secret))
		if err != nil {
			t.Fatal(err)
		}
		return k.ID
	}
	only := f.admin // the one active admin key at the start of each round
	for round := range 10 {
		a, b := f.key(fmt.Sprintf("ops-a-%d", round), ovm.RoleAdmin), f.key(fmt.Sprintf("ops-b-%d", round), ovm.RoleAdmin)
		if r := f.do("DELETE", "/v1/keys/"+id(only), a, ""); r.status != 200 {
			t.Fatalf("round %d: a revokes the previous admin: %d %s", round, r.status, r.body)
		}
		var wg sync.WaitGroup
		var ra, rb resp
		wg.Add(2)
		go func() { defer wg.Done(); ra = f.do("DELETE", "/v1/keys/"+id(b), a, "") }()
		go func() { defer wg.Done(); rb = f.do("DELETE", "/v1/keys/"+id(a), b, "") }()
		wg.Wait()
		ok := 0
		for _, r := range []resp{ra, rb} {
			switch r.status {
			case 200:
				ok++
			case 409:
				if !strings.Contains(string(r.body), "last active admin key") {
					t.Errorf("409 without the reason: %s", r.body)
				}
			case 401: // its own key was revoked a moment before
			default:
				t.Errorf("round %d: %d %s", round, r.status, r.body)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d revocations succeeded (%d, %d), want exactly one", round, ok, ra.status, rb.status)
		}
		only = a
		if ra.status != 200 {
			only = b
		}
		if r := f.do("GET", "/v1/keys", only, ""); r.status != 200 {
			t.Fatalf("round %d: the surviving admin cannot work: %d", round, r.status)
		}
	}
}

// liveSim is the simulated provider with live progress for every account
// (as awsorgs reports a running aws-nuke pass).
type liveSim struct{ *sim.Provider }

func (liveSim) LiveProgress(id string) map[string]string {
	return map[string]string{"step": "clean", "found": "37"}
}

func TestAnAccountShowsItsRunningStepsLiveFigures(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	p, _ := sim.New(sim.Config{}, f.clock)
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 1}}.WithDefaults()
	eng, err := engine.New(f.store, []engine.Pool{{Policy: pol, Provider: liveSim{p}}}, f.clock, slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(f.store, eng, f.clock, slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Config{}))
	defer srv.Close()
	f.srv = srv
	if _, err := eng.RunOnce(context.Background(), engine.WorkerPlanner); err != nil {
		t.Fatal(err)
	}
	accts, _, _ := f.store.AccountList(context.Background(), &ovm.AccountListParams{})
	var a client.Account
	f.do("GET", "/v1/accounts/"+accts[0].ID, f.admin, "").json(t, &a)
	if a.Progress["live.found"] != "37" {
		t.Fatalf("the account's live figures are missing: %+v", a.Progress)
	}
	stored, _ := f.store.AccountGet(context.Background(), accts[0].ID)
	if _, ok := stored.Progress["live.found"]; ok {
		t.Fatal("live figures were stored")
	}
}

func TestAKeyRevokedWhileItWaitsGetsNoAccount(t *testing.T) {
	f := newFixtureVend(t, httpapi.Config{}, engine.VendConfig{PollInterval: 10 * time.Millisecond}, func(p *ovm.Pool) { p.Stock.Target = 0 })
	bob := f.key("bob", ovm.RoleUser)
	done := make(chan resp)
	go func() { done <- f.do("POST", "/v1/leases", bob, `{"wait":"1m"}`) }()
	time.Sleep(50 * time.Millisecond) // bob is waiting
	k, _ := f.store.KeyGetByHash(context.Background(), ovm.HashKey(bob))
	if r := f.do("DELETE", "/v1/keys/"+k.ID, f.admin, ""); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	select {
	case r := <-done:
		if msg := r.wantError(t, 401, "unauthorized"); !strings.Contains(msg, "revoked while the request waited") {
			t.Fatalf("message %q", msg)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the revoked key's request still waits")
	}
}

func TestDrainEndsTheWaits(t *testing.T) {
	f := newFixtureVend(t, httpapi.Config{}, engine.VendConfig{PollInterval: time.Hour}, func(p *ovm.Pool) { p.Stock.Target = 0 })
	srv := httpapi.New(f.store, f.eng, f.clock, slog.New(slog.NewTextHandler(io.Discard, nil)), httpapi.Config{})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	f.srv = ts
	done := make(chan resp)
	go func() { done <- f.do("POST", "/v1/leases", f.user, `{"wait":"1m"}`) }()
	time.Sleep(50 * time.Millisecond)
	f.eng.Drain()
	select {
	case r := <-done:
		if msg := r.wantError(t, 503, "unavailable"); !strings.Contains(msg, "shutting down") || r.header.Get("Retry-After") != "1" {
			t.Fatalf("message %q, Retry-After %q", msg, r.header.Get("Retry-After"))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a drained server's vend still waits")
	}
}
