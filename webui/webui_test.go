package webui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/identity"
	"github.com/ovmdev/ovm/identity/identitytest"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
	"github.com/ovmdev/ovm/webui"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// fixture is the console over the real API, store and simulated AWS, on an
// injected clock (so a session can outlive its TTL in a test).
type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	store *sqlitestore.Store
	clock *clocktest.Clock
	ui    *webui.UI
	admin string
	user  string
	// issuer is the loopback OIDC issuer of newOIDCFixture (nil otherwise).
	issuer *identitytest.Issuer
}

func newFixture(t *testing.T, mods ...func(*webui.Config)) *fixture {
	return build(t, false, mods...)
}

// newOIDCFixture is a fixture whose console also signs people in with a
// loopback issuer (issuer 0, client ovm-console), on the fixture's clock.
// The API accepts its ID tokens: the owner is idp:<email>, and the group
// ovm-admins makes an admin. Its user is bob@example.com, of group dev.
func newOIDCFixture(t *testing.T, mods ...func(*webui.Config)) *fixture {
	return build(t, true, mods...)
}

func build(t *testing.T, withIssuer bool, mods ...func(*webui.Config)) *fixture {
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clock := clocktest.New(t0)
	prov, _ := sim.New(sim.Config{}, clock)
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 1, Ceiling: 5}}.WithDefaults()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Two templates besides the pool's own: one for everyone, one for the
	// ops team only.
	tpl := func(name, desc string, allowed ...string) ovm.Template {
		return ovm.Template{Name: name, Description: desc, Pool: "default", Allowed: allowed,
			Lease: ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, MinTTL: time.Minute, MaxPerOwner: 2}}
	}
	eng, err := engine.New(store, []engine.Pool{{Policy: pol, Provider: prov}}, clock, log, engine.Config{
		Templates: []ovm.Template{tpl("one-hour", "an hour, for anyone"), tpl("ops-only", "the ops team's", "team:ops")},
		Vend:      engine.VendConfig{Caps: []ovm.SpendCap{{Owner: "*", Per: ovm.CapMonth, USD: 250}}}})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		eng.Tick(ctx)
	}
	cfg := webui.Config{SessionTTL: time.Hour}
	var (
		apiCfg httpapi.Config
		issuer *identitytest.Issuer
	)
	if withIssuer {
		issuer = identitytest.New(t)
		issuer.Now = clock.Now
		issuer.SetUser(identitytest.User{"sub": "bob", "email": "bob@example.com", "groups": []any{"dev"}})
		tokens, err := identity.New(identity.Config{OIDC: []identity.IssuerConfig{{Issuer: issuer.URL, Audience: "ovm-console",
			OwnerClaim: "email", OwnerPrefix: "idp:", RoleClaim: "groups", AdminValues: []string{"ovm-admins"}}}}, clock, log)
		if err != nil {
			t.Fatal(err)
		}
		apiCfg.Tokens = tokens
		cfg.Issuers = []webui.Issuer{{Name: "IdP", URL: issuer.URL, ClientID: "ovm-console"}}
	}
	api := httpapi.New(store, eng, clock, log, apiCfg)
	for _, m := range mods {
		m(&cfg)
	}
	ui, err := webui.New(api, clock, log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: store, clock: clock, ui: ui, srv: httptest.NewServer(webui.Mount(api, ui)), issuer: issuer}
	t.Cleanup(f.srv.Close)
	for _, k := range []struct {
		name string
		role ovm.Role
		dst  *string
	}{{"root", ovm.RoleAdmin, &f.admin}, {"alice", ovm.RoleUser, &f.user}} {
		key, secret, _ := ovm.NewAPIKey(k.name, k.role, t0)
		if err := store.KeyCreate(ctx, key); err != nil {
			t.Fatal(err)
		}
		*k.dst = secret
	}
	return f
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	f *fixture
	c *http.Client
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status   int
	location string
	body     string
	cookies  []*http.Cookie // set by the answer
}

func (b *browser) get(path string) page {
	b.f.t.Helper()
	return b.getURL(b.f.srv.URL + path)
}

// getURL gets an absolute URL (the issuer's, a callback's).
func (b *browser) getURL(u string) page {
	b.f.t.Helper()
	res, err := b.c.Get(u)
	if err != nil {
		b.f.t.Fatal(err)
	}
	return read(b.f.t, res)
}

func (b *browser) post(path string, form url.Values) page {
	b.f.t.Helper()
	res, err := b.c.PostForm(b.f.srv.URL+path, form)
	if err != nil {
		b.f.t.Fatal(err)
	}
	return read(b.f.t, res)
}

func read(t *testing.T, res *http.Response) page {
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, location: res.Header.Get("Location"), body: string(b), cookies: res.Cookies()}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf token in the page (%d):\n%s", p.status, p.body)
	}
	return m[1]
}

// signIn signs in with key and returns the session's CSRF token.
func (b *browser) signIn(key string) string {
	b.f.t.Helper()
	login := b.get("/ui/login")
	p := b.post("/ui/login", url.Values{"csrf": {csrf(b.f.t, login)}, "key": {key}})
	if p.status != http.StatusSeeOther || p.location != "/ui/" {
		b.f.t.Fatalf("sign-in: %d %s\n%s", p.status, p.location, p.body)
	}
	return csrf(b.f.t, b.get("/ui/"))
}

// startSignIn starts a sign-in with the fixture's issuer, which approves
// it at once, and returns the callback URL the issuer sends the browser
// back to, and the sealed sign-in cookie the console set.
func (b *browser) startSignIn() (callback string, cookie *http.Cookie) {
	b.f.t.Helper()
	start := b.get("/ui/login/oidc?issuer=0")
	if start.status != http.StatusFound || !strings.HasPrefix(start.location, b.f.issuer.URL+"/authorize?") {
		b.f.t.Fatalf("sign-in start: %d %s\n%s", start.status, start.location, start.body)
	}
	for _, c := range start.cookies {
		if c.Name == "ovm_login" {
			cookie = c
		}
	}
	at := b.getURL(start.location)
	if at.status != http.StatusFound || !strings.HasPrefix(at.location, b.f.srv.URL+"/ui/callback?") {
		b.f.t.Fatalf("the issuer: %d %s", at.status, at.location)
	}
	return at.location, cookie
}

// signInWithIssuer signs in with the fixture's issuer and returns the
// session's CSRF token.
func (b *browser) signInWithIssuer() string {
	b.f.t.Helper()
	callback, _ := b.startSignIn()
	if p := b.getURL(callback); p.status != http.StatusSeeOther || p.location != "/ui/" {
		b.f.t.Fatalf("callback: %d %s\n%s", p.status, p.location, p.body)
	}
	return csrf(b.f.t, b.get("/ui/"))
}

func TestASessionEndsAtItsTTLAndAtSignOut(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	tok := b.signIn(f.user)
	if p := b.get("/ui/"); p.status != 200 || !strings.Contains(p.body, "alice (user)") {
		t.Fatalf("home: %d", p.status)
	}
	f.clock.Advance(time.Hour)
	if p := b.get("/ui/"); p.status != http.StatusSeeOther || p.location != "/ui/login" {
		t.Fatalf("after its TTL the session still opens the home page: %d", p.status)
	}
	// Sign-out ends the session on the server: its cookie, kept by an
	// attacker, opens nothing.
	tok = b.signIn(f.user)
	stolen := b.c.Jar.Cookies(mustURL(f.srv.URL + "/ui/"))
	if p := b.post("/ui/logout", url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", p.status)
	}
	other := f.browser()
	other.c.Jar.SetCookies(mustURL(f.srv.URL+"/ui/"), stolen)
	if p := other.get("/ui/"); p.status != http.StatusSeeOther {
		t.Fatalf("a signed-out session's cookie still opens the console: %d", p.status)
	}
}

func TestARevokedKeyEndsItsSession(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.signIn(f.user)
	k, err := f.store.KeyGetByHash(context.Background(), ovm.HashKey(f.user))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.KeyRevoke(context.Background(), k.ID, "key:root", t0); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/ui/"); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "sign in again") {
		t.Fatalf("a revoked key's session: %d\n%s", p.status, p.body)
	}
	if p := b.get("/ui/"); p.status != http.StatusSeeOther {
		t.Fatalf("the session outlived the refusal: %d", p.status)
	}
}

func TestFormsWithoutTheirTokenChangeNothing(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	tok := b.signIn(f.user)
	p := b.post("/ui/leases", url.Values{"csrf": {tok}, "pool": {"default"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/ui/leases/lse_") {
		t.Fatalf("take: %d %s\n%s", p.status, p.location, p.body)
	}
	id := strings.TrimPrefix(p.location, "/ui/leases/")
	for _, form := range []url.Values{{}, {"csrf": {"forged"}}, {"csrf": {tok + "x"}}} {
		if p := b.post("/ui/leases/"+id+"/release", form); p.status != http.StatusForbidden {
			t.Fatalf("release with %v: %d", form, p.status)
		}
	}
	if l, _ := f.store.LeaseGet(context.Background(), id); l.State != ovm.LeaseActive {
		t.Fatalf("a forged release ended the lease")
	}
	// Another session's token is not this session's.
	other := f.browser()
	otherTok := other.signIn(f.admin)
	if p := b.post("/ui/leases/"+id+"/release", url.Values{"csrf": {otherTok}}); p.status != http.StatusForbidden {
		t.Fatalf("release with another session's token: %d", p.status)
	}
	// Signing in needs the sign-in page's token too (no login CSRF).
	fresh := f.browser()
	if p := fresh.post("/ui/login", url.Values{"key": {f.admin}}); p.status != http.StatusForbidden {
		t.Fatalf("a sign-in without the page's token: %d", p.status)
	}
}

func TestInvalidValuesAreAnsweredNextToTheFieldAndChangeNothing(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	tok := b.signIn(f.user)
	for _, c := range []struct{ field, value, want string }{
		{"ttl", "soon", `id="ttl-error"`}, {"ttl", "-1h", `id="ttl-error"`}, {"ttl", "99999h", `id="ttl-error"`},
		{"pool", "nope", `id="pool-error"`},
	} {
		form := url.Values{"csrf": {tok}, "pool": {"default"}}
		form.Set(c.field, c.value)
		p := b.post("/ui/leases", form)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, c.want) || !strings.Contains(p.body, `aria-invalid="true"`) && c.field == "ttl" {
			t.Errorf("%s=%q: %d, want 400 with %s", c.field, c.value, p.status, c.want)
		}
	}
	if ls, _, _ := f.store.LeaseList(context.Background(), &ovm.LeaseListParams{Owner: "alice"}); len(ls) != 0 {
		t.Fatalf("refused forms made %d leases", len(ls))
	}
	if p := b.get("/ui/keys"); p.status != http.StatusForbidden || !strings.Contains(p.body, "This page is for admins") {
		t.Fatalf("a user on an admin page: %d", p.status)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestANewKeyIsShownOnceAndAReloadMakesNoOther(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	tok := b.signIn(f.admin)
	p := b.post("/ui/keys", url.Values{"csrf": {tok}, "name": {"ci"}, "role": {"user"}})
	if p.status != http.StatusSeeOther || p.location != "/ui/keys" {
		t.Fatalf("create: %d %s", p.status, p.location)
	}
	first := b.get("/ui/keys")
	m := regexp.MustCompile(`id="new-key" readonly value="([^"]+)"`).FindStringSubmatch(first.body)
	if m == nil || !ovm.IsKeySecret(m[1]) {
		t.Fatalf("the new key is not shown:\n%s", first.body)
	}
	if again := b.get("/ui/keys"); strings.Contains(again.body, m[1]) {
		t.Fatal("the key is shown twice")
	}
	keys, _, _ := f.store.KeyList(context.Background(), &ovm.PageParams{Limit: 100})
	n := 0
	for _, k := range keys {
		if k.Name == "ci" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d keys named ci", n)
	}
	if p := b.post("/ui/keys", url.Values{"csrf": {tok}, "name": {""}, "role": {"root"}}); p.status != http.StatusBadRequest ||
		!strings.Contains(p.body, `id="name-error"`) || !strings.Contains(p.body, `id="role-error"`) {
		t.Fatalf("an empty name and a bad role: %d", p.status)
	}
}

func TestSigningInWithAnIssuerNeedsThePublicURLOffLoopback(t *testing.T) {
	issuer := identitytest.New(t)
	is := []webui.Issuer{{Name: "IdP", URL: issuer.URL, ClientID: "ovm-console"}}
	f := newFixture(t, func(c *webui.Config) { c.Issuers = is })
	req := httptest.NewRequest("GET", "http://ovm.example.com/ui/login/oidc?issuer=0", nil)
	rec := httptest.NewRecorder()
	f.ui.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "ui.public_url") {
		t.Fatalf("off loopback without public_url: %d", rec.Code)
	}
	g := newFixture(t, func(c *webui.Config) { c.Issuers, c.PublicURL = is, "https://ovm.example.com" })
	rec = httptest.NewRecorder()
	g.ui.ServeHTTP(rec, httptest.NewRequest("GET", "http://evil.example/ui/login/oidc?issuer=0", nil))
	loc, _ := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || loc.Query().Get("redirect_uri") != "https://ovm.example.com/ui/callback" ||
		loc.Query().Get("code_challenge_method") != "S256" || !strings.Contains(rec.Header().Get("Set-Cookie"), "Secure") {
		t.Fatalf("with public_url: %d %s %q", rec.Code, loc, rec.Header().Get("Set-Cookie"))
	}
}

func TestAWrongMethodIs405(t *testing.T) {
	f := newFixture(t)
	if p := f.browser().get("/ui/logout"); p.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /ui/logout: %d", p.status)
	}
}

// The home page shows the spend caps that bound the person.
func TestTheHomePageShowsThePersonsSpendCaps(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	b.signIn(f.user)
	home := b.get("/ui/")
	for _, want := range []string{`id="caps-heading"`, "250.00 USD a month", "0.00 USD"} {
		if !strings.Contains(home.body, want) {
			t.Errorf("the home page lacks %s", want)
		}
	}
}

// The take form offers the templates the person may use, with their
// descriptions; one they may not use is refused next to the field.
func TestTheTakeFormOffersTheTemplatesThePersonMayUse(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	tok := b.signIn(f.user)
	home := b.get("/ui/")
	for _, want := range []string{`<option value="one-hour"`, "one-hour: an hour, for anyone (pool default, ", `<option value="default" selected`} {
		if !strings.Contains(home.body, want) {
			t.Errorf("the take form lacks %s", want)
		}
	}
	if strings.Contains(home.body, "ops-only") {
		t.Error("alice, in no team, is offered the ops team's template")
	}
	p := b.post("/ui/leases", url.Values{"csrf": {tok}, "template": {"ops-only"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="template-error"`) || !strings.Contains(p.body, "ops-only") {
		t.Fatalf("a template alice may not use: %d", p.status)
	}
	p = b.post("/ui/leases", url.Values{"csrf": {tok}, "template": {"one-hour"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/ui/leases/lse_") {
		t.Fatalf("a lease of one-hour: %d %s", p.status, p.location)
	}
	if l := b.get(p.location); !strings.Contains(l.body, `<dd id="lease-template">one-hour</dd>`) {
		t.Fatalf("the lease page does not name its template:\n%s", l.body)
	}
}

// An ended lease's page says when it ended, not the expiry it no longer
// has; the console link's page says the link's 15 minutes and the
// session's end apart.
func TestAnEndedLeaseShowsItsEndAndTheConsoleLinkItsLifetime(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	tok := b.signIn(f.user)
	p := b.post("/ui/leases", url.Values{"csrf": {tok}, "pool": {"default"}})
	id := strings.TrimPrefix(p.location, "/ui/leases/")
	if c := b.post("/ui/leases/"+id+"/console", url.Values{"csrf": {tok}}); !strings.Contains(c.body, "signs in once, within 15 minutes") {
		t.Errorf("the console link's page: %d\n%s", c.status, c.body)
	}
	if r := b.post("/ui/leases/"+id+"/release", url.Values{"csrf": {tok}, "confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("release: %d\n%s", r.status, r.body)
	}
	page := b.get("/ui/leases/" + id)
	if !strings.Contains(page.body, `id="lease-ended"`) || strings.Contains(page.body, `id="lease-expires"`) {
		t.Fatalf("an ended lease's page:\n%s", page.body)
	}
}
