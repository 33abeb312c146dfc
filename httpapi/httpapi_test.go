package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

type fixture struct {
	t      *testing.T
	store  *sqlitestore.Store
	clock  *clocktest.Clock
	eng    *engine.Engine
	sim    *sim.Provider
	srv    *httptest.Server
	admin  string // admin key
	user   string // user key "alice"
	logBuf *bytes.Buffer
}

func newFixture(t *testing.T, cfg httpapi.Config, mods ...func(*ovm.Pool)) *fixture {
	return newFixtureVend(t, cfg, engine.VendConfig{}, mods...)
}

// newFixtureVend is newFixture with the engine's vend configuration.
func newFixtureVend(t *testing.T, cfg httpapi.Config, vend engine.VendConfig, mods ...func(*ovm.Pool)) *fixture {
	return newFixtureEngine(t, cfg, engine.Config{Vend: vend}, mods...)
}

// newFixtureEngine is newFixture with the engine's configuration.
func newFixtureEngine(t *testing.T, cfg httpapi.Config, ecfg engine.Config, mods ...func(*ovm.Pool)) *fixture {
	f := &fixture{t: t, clock: clocktest.New(t0), logBuf: &bytes.Buffer{}}
	var err error
	f.store, err = sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 3},
		Lease: ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 3 * time.Hour, MinTTL: time.Second}}
	for _, m := range mods {
		m(&pol)
	}
	p, _ := sim.New(sim.Config{}, f.clock)
	f.sim = p
	log := slog.New(slog.NewTextHandler(&syncWriter{w: f.logBuf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.eng, err = engine.New(f.store, []engine.Pool{{Policy: pol.WithDefaults(), Provider: p}}, f.clock, log, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(httpapi.New(f.store, f.eng, f.clock, log, cfg))
	t.Cleanup(f.srv.Close)
	f.admin = f.key("admin", ovm.RoleAdmin)
	f.user = f.key("alice", ovm.RoleUser)
	return f
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (f *fixture) key(name string, role ovm.Role) string {
	k, secret, err := ovm.NewAPIKey(name, role, t0)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.KeyCreate(context.Background(), k); err != nil {
		f.t.Fatal(err)
	}
	return secret
}

// fill ticks the engine until the stock is full.
func (f *fixture) fill() {
	for range 10 {
		if err := f.eng.Tick(context.Background()); err != nil {
			f.t.Fatal(err)
		}
		f.clock.Advance(time.Second)
	}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// errorCode checks an error answer's status and JSON shape.
func (r resp) wantError(t *testing.T, status int, code string) string {
	t.Helper()
	var eb client.ErrorBody
	if r.status != status || json.Unmarshal(r.body, &eb) != nil || eb.Error.Code != code || eb.Error.Message == "" {
		t.Fatalf("got %d %s, want %d with error code %s", r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	return eb.Error.Message
}

func (f *fixture) do(method, path, key, body string, headers ...string) resp {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	checkAgainstContract(f.t, req, res.StatusCode, res.Header, b)
	return resp{res.StatusCode, res.Header, b}
}

var vendRe = regexp.MustCompile(`^\{"account_id": "([0-9]{12})", "cross_account_role": "arn:aws:iam::([0-9]{12}):role/OVMCrossAccountRole"\}\n$`)

func TestVendAnswersExactlyAsTheSeed(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	for _, method := range []string{"GET", "POST"} {
		r := f.do(method, "/vend", f.user, "")
		m := vendRe.FindSubmatch(r.body)
		if r.status != 200 || m == nil || string(m[1]) != string(m[2]) {
			t.Fatalf("%s /vend: %d %q", method, r.status, r.body)
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", r.header.Get("Content-Type"))
		}
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	if r := f.do("GET", "/healthz", "", ""); r.status != 200 {
		t.Fatalf("healthz: %d", r.status)
	}
	r := f.do("GET", "/vend", "", "")
	r.wantError(t, 401, "unauthorized")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	f.do("GET", "/v1/leases", "ovm_not-a-key", "").wantError(t, 401, "unauthorized")
	msg := f.do("GET", "/v1/accounts", f.user, "").wantError(t, 403, "forbidden")
	if !strings.Contains(msg, "admin") {
		t.Errorf("403 message %q does not say what is needed", msg)
	}
	f.do("POST", "/v1/keys", f.user, `{"name":"x"}`).wantError(t, 403, "forbidden")
	if r := f.do("GET", "/v1/accounts", f.admin, ""); r.status != 200 {
		t.Fatalf("admin: %d %s", r.status, r.body)
	}
	if strings.Contains(f.logBuf.String(), f.user) || strings.Contains(f.logBuf.String(), f.admin) {
		t.Fatal("a key reached the log")
	}
}

func TestAnEmptyStockAnswers503WithRetryAfter(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	r := f.do("GET", "/vend", f.user, "")
	r.wantError(t, 503, "unavailable")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
}

func TestConcurrentVendsNeverShareAnAccount(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, func(p *ovm.Pool) {
		p.Stock = ovm.StockPolicy{Target: 10, MaxInFlight: 10}
		p.Lease.MaxPerOwner = 30 // one key drains the pool
	})
	f.fill()
	var mu sync.Mutex
	seen := map[string]int{}
	empty := 0
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.do("GET", "/vend", f.admin, "")
			mu.Lock()
			defer mu.Unlock()
			if r.status == 503 {
				empty++
				return
			}
			m := vendRe.FindSubmatch(r.body)
			if m == nil {
				t.Errorf("vend: %d %s", r.status, r.body)
				return
			}
			seen[string(m[1])]++
		}()
	}
	wg.Wait()
	for id, n := range seen {
		if n > 1 {
			t.Errorf("account %s vended %d times", id, n)
		}
	}
	if len(seen) != 10 || empty != 20 {
		t.Fatalf("%d vended, %d empty; want 10 and 20", len(seen), empty)
	}
}

func TestLeaseLifecycle(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	r := f.do("POST", "/v1/leases", f.user, `{"ttl":"2h","labels":{"pipeline":"landing-zone"}}`)
	var l client.Lease
	r.json(t, &l)
	if r.status != 201 || !ovm.IsAWSAccountID(l.AccountID) || l.CrossAccountRole != ovm.RoleARN(l.AccountID, "OVMCrossAccountRole") ||
		l.Pool != "default" || l.Owner != "alice" || l.State != ovm.LeaseActive || !l.ExpiresAt.Equal(t0.Add(10*time.Second+2*time.Hour)) ||
		l.Labels["pipeline"] != "landing-zone" || r.header.Get("Location") != "/v1/leases/"+l.ID {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var got client.Lease
	f.do("GET", "/v1/leases/"+l.ID, f.user, "").json(t, &got)
	if got.ID != l.ID {
		t.Fatalf("get: %+v", got)
	}
	// Extend within max_ttl (3h from creation), then beyond it.
	r = f.do("PATCH", "/v1/leases/"+l.ID, f.user, `{"extend_by":"1h"}`)
	r.json(t, &got)
	if r.status != 200 || !got.ExpiresAt.Equal(l.ExpiresAt.Add(time.Hour)) {
		t.Fatalf("extend: %d %s", r.status, r.body)
	}
	msg := f.do("PATCH", "/v1/leases/"+l.ID, f.user, `{"extend_by":"1h"}`).wantError(t, 400, "invalid")
	if !strings.Contains(msg, "max_ttl") {
		t.Errorf("refusal %q does not name max_ttl", msg)
	}
	exp := l.CreatedAt.Add(3 * time.Hour).Format(time.RFC3339)
	if r := f.do("PATCH", "/v1/leases/"+l.ID, f.user, `{"expires_at":"`+exp+`"}`); r.status != 200 {
		t.Fatalf("extend to max: %d %s", r.status, r.body)
	}
	f.do("PATCH", "/v1/leases/"+l.ID, f.user, `{"expires_at":"`+exp+`","extend_by":"1s"}`).wantError(t, 400, "invalid")
	f.do("PATCH", "/v1/leases/"+l.ID, f.user, ``).wantError(t, 400, "invalid")

	// Another user sees nothing of it; an admin sees it.
	bob := f.key("bob", ovm.RoleUser)
	f.do("GET", "/v1/leases/"+l.ID, bob, "").wantError(t, 404, "not_found")
	f.do("DELETE", "/v1/leases/"+l.ID, bob, "").wantError(t, 404, "not_found")
	var page client.Page[client.Lease]
	f.do("GET", "/v1/leases", bob, "").json(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("bob sees %d leases", len(page.Items))
	}
	f.do("GET", "/v1/leases", f.admin, "").json(t, &page)
	if len(page.Items) != 1 {
		t.Fatalf("admin sees %d leases", len(page.Items))
	}
	f.do("GET", "/v1/leases?owner=alice", bob, "").wantError(t, 403, "forbidden")

	// Release early: the account goes on to closing, then closed.
	r = f.do("DELETE", "/v1/leases/"+l.ID, f.user, "")
	r.json(t, &got)
	if r.status != 200 || got.State != ovm.LeaseEnded || got.EndReason != "released" {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	f.do("DELETE", "/v1/leases/"+l.ID, f.user, "").wantError(t, 409, "conflict")
	f.fill()
	var acct client.Account
	f.do("GET", "/v1/accounts/"+l.AccountID, f.admin, "").json(t, &acct)
	if acct.State != ovm.AccountClosed || acct.ID != l.OVMAccountID {
		t.Fatalf("account %s, want closed", acct.State)
	}
	var path []string
	revoked := false
	for _, e := range acct.Events {
		if e.Kind == "account" && e.From != e.To {
			path = append(path, e.To)
		}
		revoked = revoked || e.To == "closing" && strings.Contains(e.Reason, "access of lease "+l.ID+" revoked")
	}
	if !revoked {
		t.Fatalf("no event of the revocation of the lease's access: %+v", acct.Events)
	}
	if strings.Join(path, ",") != "closed,closing,leased,ready,bootstrapping,creating,pending" {
		t.Fatalf("event path, newest first: %v", path)
	}
	// The same log, oldest first, a page of two at a time.
	var oldest []string
	for cursor := ""; ; {
		var page client.Page[client.Event]
		f.do("GET", "/v1/accounts/"+l.AccountID+"/events?order=oldest&limit=2&cursor="+cursor, f.admin, "").json(t, &page)
		for _, e := range page.Items {
			if e.Kind == "account" && e.From != e.To {
				oldest = append(oldest, e.To)
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if strings.Join(oldest, ",") != "pending,creating,bootstrapping,ready,leased,closing,closed" {
		t.Fatalf("event path, oldest first: %v", oldest)
	}
	f.do("GET", "/v1/accounts/"+l.AccountID+"/events?order=sideways", f.admin, "").wantError(t, 400, "invalid")
	f.do("GET", "/v1/accounts/"+l.AccountID+"/events", f.user, "").wantError(t, 403, "forbidden")
}

func TestBadInputGetsAClear4xx(t *testing.T) {
	f := newFixture(t, httpapi.Config{MaxBodyBytes: 1024})
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"malformed json", "POST", "/v1/leases", `{"ttl":`, 400, "invalid"},
		{"unknown field", "POST", "/v1/leases", `{"tll":"1h"}`, 400, "invalid"},
		{"wrong type", "POST", "/v1/leases", `{"labels":["a"]}`, 400, "invalid"},
		{"bad duration", "POST", "/v1/leases", `{"ttl":"forever"}`, 400, "invalid"},
		{"two objects", "POST", "/v1/leases", `{} {}`, 400, "invalid"},
		{"unknown pool", "POST", "/v1/leases", `{"pool":"nope"}`, 404, "not_found"},
		{"ttl below the minimum", "POST", "/v1/leases", `{"ttl":"10ms"}`, 400, "invalid"},
		{"ttl above the maximum", "POST", "/v1/leases", `{"ttl":"100h"}`, 400, "invalid"},
		{"wait above the maximum", "POST", "/v1/leases", `{"wait":"1h"}`, 400, "invalid"},
		{"oversized body", "POST", "/v1/leases", `{"labels":{"a":"` + strings.Repeat("x", 2000) + `"}}`, 413, "too_large"},
		{"unknown route", "GET", "/v2/whatever", "", 404, "not_found"},
		{"wrong method", "PUT", "/v1/leases", "", 405, "method_not_allowed"},
		{"bad limit", "GET", "/v1/leases?limit=0", "", 400, "invalid"},
		{"bad cursor", "GET", "/v1/leases?cursor=***", "", 400, "invalid"},
		{"bad state filter", "GET", "/v1/accounts?state=melted", "", 400, "invalid"},
		{"unknown lease", "GET", "/v1/leases/lse_nope", "", 404, "not_found"},
		{"unknown account", "POST", "/v1/accounts/acc_nope/retry", "", 404, "not_found"},
		{"retire of an unknown account", "POST", "/v1/accounts/acc_nope/retire", "", 404, "not_found"},
		{"key without a name", "POST", "/v1/keys", `{"role":"user"}`, 400, "invalid"},
		{"key with a bad role", "POST", "/v1/keys", `{"name":"x","role":"root"}`, 400, "invalid"},
		{"duplicate key name", "POST", "/v1/keys", `{"name":"alice"}`, 409, "conflict"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.do(c.method, c.path, f.admin, c.body)
			r.wantError(t, c.status, c.code)
			if c.status == 405 && r.header.Get("Allow") != "GET, POST" {
				t.Errorf("Allow %q", r.header.Get("Allow"))
			}
		})
	}
}

func TestWaitLongPollsUntilAnAccountIsReady(t *testing.T) {
	f := newFixtureVend(t, httpapi.Config{}, engine.VendConfig{PollInterval: 20 * time.Millisecond}, func(p *ovm.Pool) { p.Stock.Target = 1 })
	done := make(chan resp)
	go func() { done <- f.do("POST", "/v1/leases", f.user, `{"wait":"30s"}`) }()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the engine makes stock while the request waits
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				f.eng.Tick(context.Background())
				f.clock.Advance(100 * time.Millisecond)
			}
		}
	}()
	r := <-done
	close(stop)
	wg.Wait()
	if r.status != 201 {
		t.Fatalf("waiting lease: %d %s", r.status, r.body)
	}
	// With nothing coming (the engine is stopped; drain what it finished
	// meanwhile), the wait ends in 503 once the (fake) time is up.
	for {
		now := f.clock.Now()
		_, err := f.store.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now),
			Pool: "default", Owner: "drain", Now: now, ExpiresAt: now.Add(time.Hour)})
		if errors.Is(err, ovm.ErrEmpty) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(time.Hour)
	go func() { done <- f.do("POST", "/v1/leases", f.user, `{"wait":"1s"}`) }()
	for {
		select {
		case r := <-done:
			r.wantError(t, 503, "unavailable")
			return
		case <-time.After(50 * time.Millisecond):
			f.clock.Advance(500 * time.Millisecond)
		}
	}
}

func TestThePerOwnerLeaseLimit(t *testing.T) {
	f := newFixtureVend(t, httpapi.Config{}, engine.VendConfig{LeasesPerOwner: 2})
	f.fill()
	for range 2 {
		if r := f.do("GET", "/vend", f.user, ""); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	f.do("GET", "/vend", f.user, "").wantError(t, 429, "limit_exceeded")
	if r := f.do("GET", "/vend", f.admin, ""); r.status != 200 {
		t.Fatalf("another owner: %d", r.status)
	}
}

func TestKeys(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	r := f.do("POST", "/v1/keys", f.admin, `{"name":"ci-bot","role":"user"}`)
	var k client.Key
	r.json(t, &k)
	if r.status != 201 || !strings.HasPrefix(k.Key, "ovm_") || k.Role != ovm.RoleUser {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/v1/pools", k.Key, ""); r.status != 200 {
		t.Fatalf("new key: %d", r.status)
	}
	list := f.do("GET", "/v1/keys", f.admin, "")
	if strings.Contains(string(list.body), k.Key) || strings.Contains(string(list.body), ovm.HashKey(k.Key)) {
		t.Fatal("the key list shows a secret or its hash")
	}
	var page client.Page[client.Key]
	list.json(t, &page)
	if len(page.Items) != 3 {
		t.Fatalf("%d keys", len(page.Items))
	}
	if r := f.do("DELETE", "/v1/keys/"+k.ID, f.admin, ""); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	f.do("GET", "/v1/pools", k.Key, "").wantError(t, 401, "unauthorized")
}

func TestPoolsAndOperatorActions(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	var p client.Pool
	r := f.do("GET", "/v1/pools/default", f.user, "")
	r.json(t, &p)
	if r.status != 200 || p.Ready != 3 || p.Stock.Target != 3 || p.Counts["ready"] != 3 || p.Provider != "sim" {
		t.Fatalf("pool: %d %s", r.status, r.body)
	}
	f.do("GET", "/v1/pools/nope", f.user, "").wantError(t, 404, "not_found")

	var page client.Page[client.Account]
	f.do("GET", "/v1/accounts?state=ready&limit=2", f.admin, "").json(t, &page)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("accounts page: %+v", page)
	}
	id := page.Items[0].ID
	f.do("POST", "/v1/accounts/"+id+"/retry", f.admin, "").wantError(t, 409, "conflict")
	var a client.Account
	r = f.do("POST", "/v1/accounts/"+id+"/retire", f.admin, "")
	r.json(t, &a)
	if r.status != 200 || a.State != ovm.AccountClosing {
		t.Fatalf("retire: %d %s", r.status, r.body)
	}
}

func TestInputsReachAWaitingAccountAndAreNeverShownBack(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, func(p *ovm.Pool) { p.Stock.Target = 1 })
	f.eng.RunOnce(context.Background(), engine.WorkerPlanner) // one pending account
	var page client.Page[client.Account]
	f.do("GET", "/v1/accounts", f.admin, "").json(t, &page)
	id := page.Items[0].ID
	r := f.do("POST", "/v1/accounts/"+id+"/input", f.admin, `{"name":"bank_code","value":"918273"}`)
	if r.status != 200 || strings.Contains(string(r.body), "918273") {
		t.Fatalf("input: %d %s", r.status, r.body)
	}
	a, _ := f.store.AccountGet(context.Background(), id)
	if a.Progress["input.bank_code"] != "918273" {
		t.Fatalf("stored %v", a.Progress)
	}
	if got := f.do("GET", "/v1/accounts/"+id, f.admin, ""); strings.Contains(string(got.body), "918273") {
		t.Fatal("the input is shown back")
	}
	f.do("POST", "/v1/accounts/"+id+"/input", f.user, `{"name":"x","value":"y"}`).wantError(t, 403, "forbidden")
	f.do("POST", "/v1/accounts/"+id+"/input", f.admin, `{"name":"Bad Name","value":"y"}`).wantError(t, 400, "invalid")
	f.do("GET", "/v1/phone/+15550100/pin", f.admin, "").wantError(t, 404, "not_found")
}

func TestClientRoundTrip(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	c := &client.Client{BaseURL: f.srv.URL, Token: f.user}
	ctx := context.Background()
	v, err := c.Vend(ctx)
	if err != nil || !ovm.IsAWSAccountID(v.AccountID) {
		t.Fatalf("vend: %+v %v", v, err)
	}
	ttl := client.Duration(time.Hour)
	l, err := c.LeaseCreate(ctx, &client.LeaseRequest{TTL: &ttl})
	if err != nil || l.Owner != "alice" {
		t.Fatalf("lease: %+v %v", l, err)
	}
	_, err = c.AccountList(ctx, nil)
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 403 || apiErr.Code != "forbidden" {
		t.Fatalf("user listing accounts: %v", err)
	}
	if _, err := c.LeaseRelease(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
}
