package webui

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// view is what every page's template sees.
type view struct {
	Page  string // the template
	Title string
	Me    *client.Me
	CSRF  string
	// Flash is a message of what the last action did.
	Flash string
	// Errors are messages next to form fields, by field name; Error is
	// one for the whole page.
	Errors map[string]string
	Error  string
	// Form holds the values a refused form is shown again with.
	Form url.Values
	Data any
	Now  time.Time
}

// maxForm bounds a form's body.
const maxForm = 64 << 10

// route is one of the console's routes. Admin routes are refused to
// anyone else by the console itself (adminOnly), before the API is asked:
// the API refuses them too, but a page must not depend on it.
type route struct {
	pattern string
	admin   bool
	handler http.HandlerFunc
}

// table is every route of the console; routes serves them, and the tests
// go through them (every form refuses a forged token, every admin route a
// user).
func (u *UI) table() []route {
	return []route{
		{"GET /ui/static/", false, u.static},
		{"GET /ui/{$}", false, u.page(u.home)},
		{"GET /ui/login", false, u.loginPage},
		{"POST /ui/login", false, u.loginKey},
		{"GET /ui/login/oidc", false, u.loginOIDC},
		{"GET /ui/callback", false, u.callback},
		{"POST /ui/logout", false, u.action(u.logout)},
		{"GET /ui/leases", true, u.page(u.leases)},
		{"POST /ui/leases", false, u.action(u.take)},
		{"POST /ui/leases/try", false, u.action(u.tryTake)},
		{"GET /ui/leases/{id}", false, u.page(u.leasePage)},
		{"POST /ui/leases/{id}/extend", false, u.action(u.extend)},
		{"POST /ui/leases/{id}/release", false, u.action(u.release)},
		{"POST /ui/leases/{id}/credentials", false, u.action(u.credentials)},
		{"POST /ui/leases/{id}/console", false, u.action(u.console)},
		{"POST /ui/leases/{id}/freeze", true, u.action(u.freeze)},
		{"POST /ui/leases/{id}/unfreeze", true, u.action(u.unfreeze)},
		{"GET /ui/pools", false, u.page(u.pools)},
		{"GET /ui/pools/{name}", false, u.page(u.pool)},
		{"GET /ui/accounts", true, u.page(u.accounts)},
		{"GET /ui/accounts/{id}", true, u.page(u.account)},
		{"GET /ui/accounts/{id}/evidence/{record}/{file}", true, u.evidence},
		{"POST /ui/accounts/{id}/retry", true, u.action(u.accountAction("retry"))},
		{"POST /ui/accounts/{id}/retire", true, u.action(u.accountAction("retire"))},
		{"GET /ui/keys", true, u.page(u.keys)},
		{"POST /ui/keys", true, u.action(u.keyCreate)},
		{"POST /ui/keys/{id}/revoke", true, u.action(u.keyRevoke)},
		{"GET /ui/deliveries", true, u.page(u.deliveries)},
		{"GET /ui/deliveries/{id}", true, u.page(u.delivery)},
		{"POST /ui/deliveries/{id}/retry", true, u.action(u.deliveryRetry)},
		{"GET /ui/simulated-console", false, u.page(u.simulatedConsole)},
		{"GET /ui/", false, u.other},
	}
}

func (u *UI) routes() {
	for _, rt := range u.table() {
		h := rt.handler
		if rt.admin {
			h = u.adminOnly(h)
		}
		u.mux.HandleFunc(rt.pattern, h)
	}
}

// other answers a path no route has: 405 when it takes a form, 404
// otherwise.
func (u *UI) other(w http.ResponseWriter, r *http.Request) {
	if _, pat := u.mux.Handler(&http.Request{Method: http.MethodPost, URL: r.URL, Host: r.Host}); pat != "" {
		w.Header().Set("Allow", "POST")
		u.render(w, r, http.StatusMethodNotAllowed, &view{Page: "message", Title: "Method not allowed", Me: meOf(u.current(r)),
			Error: r.URL.Path + " takes a form (POST), not a GET."})
		return
	}
	u.notFound(w, r)
}

// adminOnly serves h to a signed-in admin; anyone else gets the 403 page
// (or the sign-in page), and h is not called.
func (u *UI) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := u.current(r)
		if s == nil {
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		if s.me.Role != ovm.RoleAdmin {
			u.forbidden(w, r, &view{Me: &s.me, CSRF: s.csrf})
			return
		}
		h(w, r)
	}
}

func (u *UI) notFound(w http.ResponseWriter, r *http.Request) {
	u.render(w, r, http.StatusNotFound, &view{Page: "message", Title: "Not found", Me: meOf(u.current(r)),
		Error: "There is no page " + r.URL.Path + "."})
}

// static serves the embedded assets: regular files only, by their exact
// name. A directory, however its path is spelled (static/, ..%2f, a
// trailing slash), is not found: nothing is ever listed.
func (u *UI) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/ui/")
	if !fs.ValidPath(name) || !strings.HasPrefix(name, "static/") {
		u.notFound(w, r)
		return
	}
	f, err := staticFS.Open(name)
	if err != nil {
		u.notFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	rs, seekable := f.(io.ReadSeeker)
	if err != nil || !st.Mode().IsRegular() || !seekable {
		u.notFound(w, r)
		return
	}
	http.ServeContent(w, r, st.Name(), st.ModTime(), rs)
}

func meOf(s *session) *client.Me {
	if s == nil {
		return nil
	}
	return &s.me
}

// render writes page v with status.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, v *view) {
	t := u.pages[v.Page]
	if t == nil {
		http.Error(w, "no page "+v.Page, http.StatusInternalServerError)
		return
	}
	if v.Now.IsZero() {
		v.Now = u.clock.Now()
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		u.log.Error("console page failed", "page", v.Page, ovm.LogError, err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// pageFunc fills v for a GET page; an error is the API's answer.
type pageFunc func(r *http.Request, s *session, v *view) error

// page serves a GET page to a signed-in person.
func (u *UI) page(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := u.current(r)
		if s == nil {
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		v := &view{Me: &s.me, CSRF: s.csrf, Flash: flashes[r.URL.Query().Get("done")]}
		if err := fn(r, s, v); err != nil {
			u.failed(w, r, s, v, err)
			return
		}
		status := http.StatusOK
		if len(v.Errors) > 0 {
			status = http.StatusBadRequest
		}
		u.render(w, r, status, v)
	}
}

func tooLarge(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// flashes are the messages an action leaves for the page it goes to.
var flashes = map[string]string{
	"released": "The lease is released: its access ends now, and the account is retired.",
	"extended": "The lease is extended.",
	"retried":  "The account is retried: it goes on from the step that failed.",
	"retired":  "The account is retired.",
	"revoked":  "The key is revoked.",
	"resent":   "The delivery is queued to be sent again.",
	"frozen":   "The lease is frozen: its holder keeps it, and gets no access until it is unfrozen.",
	"unfrozen": "The lease is unfrozen: its access is back.",
}

// action serves a POST form of a signed-in person: its CSRF token must be
// the session's, or nothing happens.
func (u *UI) action(fn func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		s := u.current(r)
		if s == nil {
			http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
			return
		}
		if err := r.ParseForm(); tooLarge(err) {
			u.render(w, r, http.StatusRequestEntityTooLarge, &view{Page: "message", Title: "Too large", Me: &s.me, CSRF: s.csrf,
				Error: "The form is larger than 64 KiB, so nothing was done."})
			return
		}
		if !checkCSRF(r, s) {
			u.render(w, r, http.StatusForbidden, &view{Page: "message", Title: "Refused", Me: &s.me, CSRF: s.csrf,
				Error: "The form's security token is missing or stale, so nothing was done. Reload the page and try again."})
			return
		}
		fn(w, r, s)
	}
}

func (u *UI) forbidden(w http.ResponseWriter, r *http.Request, v *view) {
	v.Page, v.Title, v.Error = "message", "Forbidden", "This page is for admins. You are signed in as "+v.Me.Name+", a "+string(v.Me.Role)+"."
	u.render(w, r, http.StatusForbidden, v)
}

// failed shows the API's refusal: sign-in again for 401, the message
// otherwise (the API's messages are safe to show).
func (u *UI) failed(w http.ResponseWriter, r *http.Request, s *session, v *view, err error) {
	ae := apiError(err)
	switch {
	case ae != nil && ae.Status == http.StatusUnauthorized:
		u.end(w, r, s)
		u.signInPage(w, r, http.StatusUnauthorized, "", "Your sign-in is no longer valid ("+ae.Message+"): sign in again.")
		return
	case ae != nil && ae.Status == http.StatusForbidden:
		u.forbidden(w, r, v)
		return
	case ae != nil:
		v.Page, v.Title, v.Error = "message", http.StatusText(ae.Status), ae.Message
		u.render(w, r, ae.Status, v)
		return
	}
	u.log.Error("console: the API call failed", ovm.LogError, err)
	v.Page, v.Title, v.Error = "message", "Error", "OVM could not answer; try again."
	u.render(w, r, http.StatusInternalServerError, v)
}

// withCursor adds the page's cursor, if any, to an API query.
func withCursor(r *http.Request, q url.Values) url.Values {
	if c := r.URL.Query().Get("cursor"); c != "" {
		q.Set("cursor", c)
	}
	return q
}

// fieldError shows the API's 400 next to field (the page renders with
// it); any other error is the page's.
func fieldError(v *view, field string, err error) error {
	if ae := apiError(err); ae != nil && ae.Status == http.StatusBadRequest {
		v.Errors = map[string]string{field: ae.Message}
		return nil
	}
	return err
}
