// Package webui is OVM's web console, served by the binary under /ui/:
// pages rendered on the server with html/template, assets embedded, and a
// few lines of plain JavaScript (copy buttons, the wait for stock).
//
// It holds no rules of its own. Every page calls the API in-process (the
// Go client of package client over the API's handler, no network) with the
// signed-in person's credential, so a page shows and changes exactly what
// the API lets that person see and change: a user's pages list only their
// leases because the API answers only those. The one check it makes itself
// is a second lock on the same door: admin routes (the route table's admin
// flag) are refused to anyone but an admin before the API is asked.
//
// Sign-in is an API key pasted in a form, or OIDC (authorization code with
// PKCE) with an issuer of auth.oidc that has a console block; the ID token
// is then the credential. A sign-in under way is kept by the browser,
// sealed with this process's key (seal.go), so the console holds nothing
// for it. Sessions live in this replica's memory, behind an
// HttpOnly, SameSite=Lax cookie (Secure under TLS) that expires; every form
// that changes state carries the session's CSRF token; sign-out ends the
// session. With several replicas behind a load balancer, make sessions
// sticky (docs/console.md).
//
// routes.go has the route table and what every page shares (render, the
// page and form wrappers, the API's refusals); each resource's pages are
// a file of their own: leases.go (home, take, a lease), access.go
// (credentials, console), pools.go, accounts.go, keys.go, deliveries.go;
// signin.go and oidc.go sign people in.
package webui

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// Config tunes the console. Zero fields take the documented defaults.
type Config struct {
	// SessionTTL is how long a session lasts (default 8h). A session of
	// an OIDC sign-in ends with its ID token, sooner when it expires first.
	SessionTTL time.Duration
	// Issuers offer sign-in with OIDC (default: API keys only).
	Issuers []Issuer
	// DefaultPool is the pool the take form proposes (default "default").
	DefaultPool string
	// HTTP is the client for the issuers' endpoints (default: 30s timeout).
	HTTP *http.Client
	// PublicURL is where browsers reach OVM (https://ovm.example.com): the
	// OIDC redirect URI is PublicURL/ui/callback and cookies are Secure
	// when it is https. Unset, OIDC sign-in works only on a loopback host
	// (a laptop, the tests) and cookies are Secure only on a TLS
	// connection to OVM itself.
	PublicURL string
	// ListenAddr is the address the API listens on (host:port, as bound).
	// Without PublicURL, the CLI examples (the credentials page's
	// credential_process line) name http://ListenAddr, unless it is a
	// wildcard (0.0.0.0, ::) that no client can reach; then they leave
	// --url out and the CLI reads OVM_URL. A request's Host header is never
	// written into a page: it is the client's to say.
	ListenAddr string
	// AdminKeyFile is where `ovm serve` wrote the first admin key (the
	// sign-in page's hint names it; "" leaves the hint out).
	AdminKeyFile string
}

// Issuer is an OIDC issuer people sign in with.
type Issuer struct {
	// Name labels the sign-in button.
	Name string
	// URL is the issuer; ClientID the console's client id (the audience
	// of its ID tokens, which the API accepts).
	URL, ClientID string
	// ClientSecret is the client's secret ("" for a public client).
	ClientSecret string
	// Scopes are asked for besides openid.
	Scopes []string
}

// WithDefaults returns c with every zero field set to its documented default.
func (c Config) WithDefaults() Config {
	if c.SessionTTL == 0 {
		c.SessionTTL = 8 * time.Hour
	}
	if c.DefaultPool == "" {
		c.DefaultPool = "default"
	}
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	return c
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// UI is the console's handler: mount it at /ui/.
type UI struct {
	api   http.Handler
	cfg   Config
	clock ovm.Clock
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux

	mu        sync.Mutex
	sessions  map[string]*session
	lastSweep time.Time
	oidc      *oidcClients
	// seal seals sign-ins under way into the browser's cookie.
	seal   *sealer
	public *url.URL
}

// Bounds of the console's memory: sessions (per principal and in all).
// Expired sessions are swept at most once a minute, or when a bound is
// reached. Sign-ins under way take no memory: the browser keeps them,
// sealed (seal.go).
const (
	maxSessions             = 50000
	maxSessionsPerPrincipal = 20
	sweepEvery              = time.Minute
)

// session is one signed-in person.
type session struct {
	id, csrf string
	// cred is the API key or the ID token the session acts with; it never
	// leaves this process.
	cred string
	// principal is who signed in, whatever the credential: an API key (by
	// its hash), or an issuer and the owner it gives. Every ID token is a
	// new credential; the person is the same.
	principal string
	me        client.Me
	created   time.Time
	expires   time.Time
	// newKey is a key just created, shown once by the next keys page.
	newKey *client.Key
}

// New returns the console over api, the API's handler.
func New(api http.Handler, clock ovm.Clock, log *slog.Logger, cfg Config) (*UI, error) {
	u := &UI{api: api, cfg: cfg.WithDefaults(), clock: clock, log: log, mux: http.NewServeMux(),
		sessions: map[string]*session{}, seal: newSealer()}
	u.oidc = newOIDCClients(u.cfg, clock)
	var err error
	if cfg.PublicURL != "" {
		p, perr := url.Parse(cfg.PublicURL)
		if perr != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || strings.Trim(p.Path, "/") != "" || p.RawQuery != "" {
			return nil, fmt.Errorf("public url %q must be an absolute http(s) URL without a path", cfg.PublicURL)
		}
		u.public = p
	}
	if u.pages, err = parsePages(); err != nil {
		return nil, err
	}
	u.routes()
	return u, nil
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := n[len("templates/") : len(n)-len(".html")]
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		out[base] = t
	}
	return out, nil
}

// ServeHTTP implements http.Handler, with the headers every page has.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	u.mux.ServeHTTP(w, r)
}

// newToken is a random token (session ids, CSRF tokens, OIDC state).
func newToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

const sessionCookie = "ovm_session"

// current returns the request's session, nil when none or expired.
func (u *UI) current(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.sessions[c.Value]
	if s != nil && !u.clock.Now().Before(s.expires) {
		delete(u.sessions, c.Value)
		return nil
	}
	return s
}

// start makes a session of principal acting with cred for me until
// expires, and sets its cookie.
func (u *UI) start(w http.ResponseWriter, r *http.Request, principal, cred string, me client.Me, expires time.Time) {
	now := u.clock.Now()
	s := &session{id: newToken(), csrf: newToken(), cred: cred, principal: principal, me: me, created: now, expires: expires}
	u.mu.Lock()
	if old, err := r.Cookie(sessionCookie); err == nil { // signing in again ends the session before
		delete(u.sessions, old.Value)
	}
	if now.Sub(u.lastSweep) >= sweepEvery || len(u.sessions) >= maxSessions {
		u.lastSweep = now
		for id, old := range u.sessions {
			if !now.Before(old.expires) {
				delete(u.sessions, id)
			}
		}
	}
	// One principal holds a bounded number of sessions (a script signing
	// in in a loop, with a new ID token each time): the oldest goes. In
	// all, the oldest goes too.
	var same []*session
	for _, old := range u.sessions {
		if old.principal == principal {
			same = append(same, old)
		}
	}
	if len(same) >= maxSessionsPerPrincipal {
		delete(u.sessions, oldest(same).id)
	}
	if len(u.sessions) >= maxSessions {
		all := make([]*session, 0, len(u.sessions))
		for _, old := range u.sessions {
			all = append(all, old)
		}
		delete(u.sessions, oldest(all).id)
	}
	u.sessions[s.id] = s
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/ui/", Expires: expires,
		MaxAge: int(expires.Sub(now).Seconds()), HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteLaxMode})
}

// keyPrincipal and tokenPrincipal name who a session is of.
func keyPrincipal(key string) string { return "key " + ovm.HashKey(key) }
func tokenPrincipal(issuer string, me client.Me) string {
	return "oidc " + issuer + " " + me.Name
}

func oldest(ss []*session) *session {
	o := ss[0]
	for _, s := range ss[1:] {
		if s.created.Before(o.created) {
			o = s
		}
	}
	return o
}

// end forgets session s and clears its cookie.
func (u *UI) end(w http.ResponseWriter, r *http.Request, s *session) {
	if s != nil {
		u.mu.Lock()
		delete(u.sessions, s.id)
		u.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true,
		Secure: u.secure(r), SameSite: http.SameSiteLaxMode})
}

// secure tells whether the browser reached OVM over TLS: ui.public_url
// says so when set; otherwise the connection (a proxy's header is not
// trusted).
func (u *UI) secure(r *http.Request) bool {
	if u.public != nil {
		return u.public.Scheme == "https"
	}
	return r.TLS != nil
}

// checkCSRF reports whether the form's token is the session's.
func checkCSRF(r *http.Request, s *session) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1
}

// client calls the API in-process as the session's holder.
func (u *UI) client(s *session) *client.Client {
	return &client.Client{BaseURL: "http://ovm.internal", Token: s.cred, HTTP: &http.Client{Transport: inProcess{u.api}}}
}

// inProcess is a RoundTripper that serves requests with a handler.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil { // a client request without a body; a handler expects one
		r.Body = http.NoBody
	}
	r.RemoteAddr = "in-process"
	rec := &recorder{header: http.Header{}}
	t.h.ServeHTTP(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &http.Response{StatusCode: rec.status, Header: rec.header, Body: readCloser{bytes.NewReader(rec.body.Bytes())},
		Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// apiError returns err as the API's error, nil when it is not one.
func apiError(err error) *client.APIError {
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}

// Mount serves ui under /ui/ and api everywhere else. A browser that asks
// for / (it accepts HTML) is sent to the console.
func Mount(api http.Handler, ui *UI) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/ui" || strings.HasPrefix(p, "/ui/"):
			ui.ServeHTTP(w, r)
		case p == "/" && r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html"):
			http.Redirect(w, r, "/ui/", http.StatusFound)
		default:
			api.ServeHTTP(w, r)
		}
	})
}
