package webui_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm/webui"
)

// A sign-in under way is kept by the browser, sealed: however many are
// started, by anyone, without signing in, the console keeps nothing for
// them, and someone else's sign-in still completes.
func TestAFloodOfSignInStartsDoesNotStopOthersSigningIn(t *testing.T) {
	f := newOIDCFixture(t)
	const flood = 10050 // past the 10,000 sign-ins under way the console used to keep
	refused := 0
	for range flood {
		rec := httptest.NewRecorder()
		f.ui.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/ui/login/oidc?issuer=0", nil))
		if rec.Code != http.StatusFound {
			refused++
		}
	}
	if refused != 0 {
		t.Errorf("%d of %d sign-in starts refused", refused, flood)
	}
	b := f.browser()
	b.signInWithIssuer()
	if p := b.get("/ui/"); p.status != http.StatusOK || !strings.Contains(p.body, "idp:bob@example.com (user)") {
		t.Fatalf("after the flood, a sign-in: %d\n%s", p.status, p.body)
	}
	if n := f.issuer.Discoveries.Load(); n != 2 { // the console's, the API's
		t.Errorf("%d discoveries, want one by the console and one by the API", n)
	}
}

// A sign-in is finished only in the browser that started it, once, before
// it expires, and with its cookie as the console sealed it.
func TestASignInIsFinishedOnceInTheBrowserThatStartedIt(t *testing.T) {
	f := newOIDCFixture(t)
	signedIn := func(b *browser) bool { return b.get("/ui/").status == http.StatusOK }

	// Another browser (an attacker's link) cannot finish it; that leaves
	// the code unused.
	b := f.browser()
	callback, cookie := b.startSignIn()
	if cookie == nil || !cookie.HttpOnly || cookie.Path != "/ui/callback" || cookie.MaxAge != 600 {
		t.Fatalf("the sign-in cookie: %+v", cookie)
	}
	if strings.Contains(cookie.Value, mustURL(callback).Query().Get("state")) {
		t.Fatal("the sign-in cookie shows its state: it is not sealed")
	}
	other := f.browser()
	if p := other.getURL(callback); p.status != http.StatusBadRequest || !strings.Contains(p.body, "not started in this browser") || signedIn(other) {
		t.Fatalf("another browser's callback: %d", p.status)
	}
	if p := b.getURL(callback); p.status != http.StatusSeeOther || !signedIn(b) {
		t.Fatalf("the browser's own callback: %d\n%s", p.status, p.body)
	}

	// Its cookie is cleared; replayed with the same cookie, the code has
	// been used at the issuer.
	replay := f.browser()
	replay.c.Jar.SetCookies(mustURL(f.srv.URL+"/ui/callback"), []*http.Cookie{{Name: "ovm_login", Value: cookie.Value, Path: "/ui/callback"}})
	if p := replay.getURL(callback); p.status != http.StatusUnauthorized || signedIn(replay) {
		t.Fatalf("a replayed callback: %d\n%s", p.status, p.body)
	}

	// A cookie changed by one character, or another state, opens nothing.
	c2 := f.browser()
	cb2, ck2 := c2.startSignIn()
	forged := []byte(ck2.Value)
	forged[len(forged)/2] ^= 1
	tampered := f.browser()
	tampered.c.Jar.SetCookies(mustURL(f.srv.URL+"/ui/callback"), []*http.Cookie{{Name: "ovm_login", Value: string(forged), Path: "/ui/callback"}})
	if p := tampered.getURL(cb2); p.status != http.StatusBadRequest || signedIn(tampered) {
		t.Fatalf("a changed cookie: %d", p.status)
	}
	u := mustURL(cb2)
	q := u.Query()
	q.Set("state", "another")
	u.RawQuery = q.Encode()
	if p := c2.getURL(u.String()); p.status != http.StatusBadRequest || signedIn(c2) {
		t.Fatalf("another state: %d", p.status)
	}

	// Ten minutes at the issuer is too long.
	late := f.browser()
	cb3, _ := late.startSignIn()
	f.clock.Advance(10 * time.Minute)
	if p := late.getURL(cb3); p.status != http.StatusBadRequest || !strings.Contains(p.body, "took too long") || signedIn(late) {
		t.Fatalf("a late callback: %d", p.status)
	}
}

// A console restarted (or another replica) cannot open the sign-ins the
// one before sealed: its key is its own.
func TestASignInSealedByAnotherConsoleIsRefused(t *testing.T) {
	f := newOIDCFixture(t)
	g := newOIDCFixture(t)
	_, cookie := f.browser().startSignIn()
	b := g.browser()
	callback, _ := b.startSignIn()
	b.c.Jar.SetCookies(mustURL(g.srv.URL+"/ui/callback"), []*http.Cookie{{Name: "ovm_login", Value: cookie.Value, Path: "/ui/callback"}})
	if p := b.getURL(callback); p.status != http.StatusBadRequest {
		t.Fatalf("another console's cookie: %d", p.status)
	}
}

// One person holds at most 20 sessions, however many ID tokens (each a
// new credential) they sign in with; the oldest goes, and nobody else's.
func TestOnePersonHoldsAtMost20SessionsWhateverTheirTokens(t *testing.T) {
	f := newOIDCFixture(t)
	signedIn := func(b *browser) bool { return b.get("/ui/").status == http.StatusOK }
	f.issuer.SetUser(map[string]any{"sub": "carol", "email": "carol@example.com"})
	carol := f.browser()
	carol.signInWithIssuer()
	alice := f.browser()
	alice.signIn(f.user)
	f.issuer.SetUser(map[string]any{"sub": "bob", "email": "bob@example.com"})
	var bob []*browser
	for range 25 {
		f.clock.Advance(time.Second) // the oldest is the first
		b := f.browser()
		b.signInWithIssuer()
		bob = append(bob, b)
	}
	for i, b := range bob {
		if want := i >= 5; signedIn(b) != want {
			t.Errorf("bob's session %d of 25: signed in %v, want %v", i+1, !want, want)
		}
	}
	if !signedIn(carol) || !signedIn(alice) {
		t.Fatal("one person's sign-ins ended another's session")
	}
}

// An OIDC session ends when its ID token expires (an hour after it was
// issued) when that is before ui.session_ttl: the console ends it itself,
// though the API would still accept the token for its minute of leeway.
func TestAnOIDCSessionEndsWhenItsIDTokenExpires(t *testing.T) {
	f := newOIDCFixture(t, func(c *webui.Config) { c.SessionTTL = 8 * time.Hour })
	b := f.browser()
	b.signInWithIssuer()
	f.clock.Advance(time.Hour - time.Second)
	if p := b.get("/ui/"); p.status != http.StatusOK {
		t.Fatalf("a second before the token's expiry: %d", p.status)
	}
	f.clock.Advance(time.Second)
	if p := b.get("/ui/"); p.status != http.StatusSeeOther || p.location != "/ui/login" {
		t.Fatalf("at the token's expiry: %d %s, want the session ended (to the sign-in page)", p.status, p.location)
	}
	// An API key's session lasts its TTL.
	k := f.browser()
	k.signIn(f.user)
	f.clock.Advance(8*time.Hour - time.Second)
	if p := k.get("/ui/"); p.status != http.StatusOK {
		t.Fatalf("a key's session before its TTL: %d", p.status)
	}
}

// The session cookie is Secure when ui.public_url is https, and not when
// it is http; without public_url, when the request came over TLS.
func TestTheSessionCookieIsSecureUnderAnHTTPSPublicURL(t *testing.T) {
	for _, c := range []struct {
		name, public, target string
		secure               bool
	}{
		{"an https public_url", "https://ovm.example.com", "http://127.0.0.1/ui/login", true},
		{"an http public_url, even over TLS", "http://ovm.example.com", "https://127.0.0.1/ui/login", false},
		{"no public_url, over TLS", "", "https://127.0.0.1/ui/login", true},
		{"no public_url, plain http", "", "http://127.0.0.1/ui/login", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, func(cfg *webui.Config) { cfg.PublicURL = c.public })
			rec := httptest.NewRecorder()
			f.ui.ServeHTTP(rec, httptest.NewRequest("GET", c.target, nil))
			req := httptest.NewRequest("POST", c.target, strings.NewReader(url.Values{"csrf": {csrf(t, read(t, rec.Result()))},
				"key": {f.user}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, ck := range rec.Result().Cookies() {
				req.AddCookie(ck)
			}
			rec = httptest.NewRecorder()
			f.ui.ServeHTTP(rec, req)
			var session *http.Cookie
			for _, ck := range rec.Result().Cookies() {
				if ck.Name == "ovm_session" {
					session = ck
				}
			}
			if rec.Code != http.StatusSeeOther || session == nil {
				t.Fatalf("sign-in: %d, cookies %v", rec.Code, rec.Result().Cookies())
			}
			if session.Secure != c.secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/ui/" {
				t.Fatalf("the session cookie: %s; want Secure %v, HttpOnly, SameSite=Lax, Path=/ui/", session, c.secure)
			}
		})
	}
}
