package webui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
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
		{"POST /ui/leases", false, u.action(u.take)},
		{"POST /ui/leases/try", false, u.action(u.tryTake)},
		{"GET /ui/leases/{id}", false, u.page(u.leasePage)},
		{"POST /ui/leases/{id}/extend", false, u.action(u.extend)},
		{"POST /ui/leases/{id}/release", false, u.action(u.release)},
		{"POST /ui/leases/{id}/credentials", false, u.action(u.credentials)},
		{"POST /ui/leases/{id}/console", false, u.action(u.console)},
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

// --- sign-in ---

const preloginCookie = "ovm_prelogin"

// signInPage shows the sign-in forms, with a fresh token against login
// CSRF (someone signing a victim in as themselves).
func (u *UI) signInPage(w http.ResponseWriter, r *http.Request, status int, keyErr, msg string) {
	tok := newToken()
	http.SetCookie(w, &http.Cookie{Name: preloginCookie, Value: tok, Path: "/ui/", MaxAge: int(loginTTL.Seconds()),
		HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteLaxMode})
	v := &view{Page: "login", Title: "Sign in", CSRF: tok, Error: msg, Data: u.cfg.Issuers}
	if keyErr != "" {
		v.Errors = map[string]string{"key": keyErr}
	}
	u.render(w, r, status, v)
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if u.current(r) != nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	u.signInPage(w, r, http.StatusOK, "", "")
}

func (u *UI) loginKey(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	c, err := r.Cookie(preloginCookie)
	if r.ParseForm() != nil || err != nil || r.PostFormValue("csrf") == "" || r.PostFormValue("csrf") != c.Value {
		u.signInPage(w, r, http.StatusForbidden, "", "The form's security token is missing or stale: try again.")
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	if !ovm.IsKeySecret(key) {
		u.signInPage(w, r, http.StatusBadRequest, "That is not an OVM API key (ovm ... as `ovm key create` printed it).", "")
		return
	}
	me, err := u.client(&session{cred: key}).Me(r.Context())
	if err != nil {
		msg := "OVM could not check the key; try again."
		if ae := apiError(err); ae != nil {
			msg = ae.Message
		}
		u.signInPage(w, r, http.StatusUnauthorized, msg, "")
		return
	}
	u.start(w, r, keyPrincipal(key), key, *me, u.clock.Now().Add(u.cfg.SessionTTL))
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *session) {
	u.end(w, r, s)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// --- lessees ---

type homeData struct {
	Next   string
	Leases []client.Lease
	Pools  []client.Pool
	Pool   string
}

func (u *UI) home(r *http.Request, s *session, v *view) error {
	return u.fillHome(r, s, v)
}

func (u *UI) fillHome(r *http.Request, s *session, v *view) error {
	c := u.client(s)
	leases, err := c.LeaseList(r.Context(), withCursor(r, url.Values{"state": {"active"}, "owner": {s.me.Name}, "limit": {"100"}}))
	if err != nil {
		return err
	}
	pools, err := c.PoolList(r.Context())
	if err != nil {
		return err
	}
	sort.Slice(pools.Items, func(i, j int) bool { return pools.Items[i].Name < pools.Items[j].Name })
	v.Page, v.Title = "home", "My leases"
	v.Data = homeData{Leases: leases.Items, Pools: pools.Items, Pool: u.cfg.DefaultPool, Next: leases.NextCursor}
	return nil
}

// takeForm reads the take form: pool and an optional duration.
func takeForm(r *http.Request) (*client.LeaseRequest, map[string]string) {
	req := &client.LeaseRequest{Pool: strings.TrimSpace(r.PostFormValue("pool"))}
	errs := map[string]string{}
	if req.Pool == "" {
		errs["pool"] = "Choose a pool."
	}
	if t := strings.TrimSpace(r.PostFormValue("ttl")); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			errs["ttl"] = "Give a positive duration such as 2h or 90m, or leave it empty for the pool's default."
		} else {
			dd := client.Duration(d)
			req.TTL = &dd
		}
	}
	return req, errs
}

func (u *UI) take(w http.ResponseWriter, r *http.Request, s *session) {
	req, errs := takeForm(r)
	v := &view{Me: &s.me, CSRF: s.csrf, Form: r.PostForm}
	if len(errs) == 0 {
		l, err := u.client(s).LeaseCreate(r.Context(), req)
		if err == nil {
			http.Redirect(w, r, "/ui/leases/"+url.PathEscape(l.ID), http.StatusSeeOther)
			return
		}
		ae := apiError(err)
		if ae != nil && ae.Status == http.StatusServiceUnavailable {
			p, _ := u.client(s).PoolGet(r.Context(), req.Pool)
			u.render(w, r, http.StatusOK, &view{Page: "wait", Title: "Waiting for an account", Me: &s.me, CSRF: s.csrf,
				Form: r.PostForm, Data: waitData{Pool: p, Message: ae.Message}})
			return
		}
		if ae == nil || ae.Status >= 500 || ae.Status == http.StatusUnauthorized {
			u.failed(w, r, s, v, err)
			return
		}
		// The form has two fields: an unknown pool is 404, anything else
		// the API refuses of it is the duration.
		field := "ttl"
		if ae.Status == http.StatusNotFound {
			field = "pool"
		}
		errs[field] = ae.Message
	}
	if err := u.fillHome(r, s, v); err != nil {
		u.failed(w, r, s, v, err)
		return
	}
	v.Errors = errs
	u.render(w, r, http.StatusBadRequest, v)
}

type waitData struct {
	Pool    *client.Pool
	Message string
}

// tryTake is the wait page's script asking again: JSON, the lease's page
// when an account came, or the pool's progress.
func (u *UI) tryTake(w http.ResponseWriter, r *http.Request, s *session) {
	req, errs := takeForm(r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if len(errs) > 0 {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "the form is not valid any more: reload the page"})
		return
	}
	l, err := u.client(s).LeaseCreate(r.Context(), req)
	if err == nil {
		json.NewEncoder(w).Encode(map[string]string{"location": "/ui/leases/" + url.PathEscape(l.ID)})
		return
	}
	ae := apiError(err)
	if ae == nil || ae.Status != http.StatusServiceUnavailable {
		status, msg := http.StatusBadGateway, "OVM could not answer; reload the page"
		if ae != nil {
			status, msg = ae.Status, ae.Message
		}
		if status == http.StatusUnauthorized {
			u.end(w, r, s)
			msg = "Your sign-in is no longer valid: sign in again."
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	out := map[string]any{"waiting": ae.Message}
	if p, err := u.client(s).PoolGet(r.Context(), req.Pool); err == nil {
		out["ready"], out["in_flight"], out["target"] = p.Ready, p.InFlight, p.Stock.Target
	}
	json.NewEncoder(w).Encode(out)
}

func (u *UI) leasePage(r *http.Request, s *session, v *view) error {
	l, err := u.client(s).LeaseGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v.Page, v.Title, v.Data = "lease", "Lease "+l.ID, l
	return nil
}

// again shows the lease page with a field's error; nothing changed.
func (u *UI) again(w http.ResponseWriter, r *http.Request, s *session, field, msg string) {
	v := &view{Me: &s.me, CSRF: s.csrf, Form: r.PostForm, Errors: map[string]string{field: msg}}
	if err := u.leasePage(r, s, v); err != nil {
		u.failed(w, r, s, v, err)
		return
	}
	u.render(w, r, http.StatusBadRequest, v)
}

func (u *UI) extend(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := time.ParseDuration(strings.TrimSpace(r.PostFormValue("extend_by")))
	if err != nil || d <= 0 {
		u.again(w, r, s, "extend_by", "Give a positive duration such as 1h or 30m.")
		return
	}
	dd := client.Duration(d)
	id := r.PathValue("id")
	if _, err := u.client(s).LeaseExtend(r.Context(), id, &client.ExtendRequest{ExtendBy: &dd}); err != nil {
		if ae := apiError(err); ae != nil && ae.Status < 500 && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusNotFound {
			u.again(w, r, s, "extend_by", ae.Message)
			return
		}
		u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
		return
	}
	http.Redirect(w, r, "/ui/leases/"+url.PathEscape(id)+"?done=extended", http.StatusSeeOther)
}

func (u *UI) release(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		v := &view{Me: &s.me, CSRF: s.csrf}
		if err := u.leasePage(r, s, v); err != nil {
			u.failed(w, r, s, v, err)
			return
		}
		v.Form = url.Values{"confirm_release": {"1"}}
		u.render(w, r, http.StatusOK, v)
		return
	}
	if _, err := u.client(s).LeaseRelease(r.Context(), id); err != nil {
		u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
		return
	}
	http.Redirect(w, r, "/ui/?done=released", http.StatusSeeOther)
}

// cliURL is the URL the CLI examples name: ui.public_url, else the
// listen address when a client can reach it, else "" (the CLI's OVM_URL).
// Never the request's Host header.
func (u *UI) cliURL() string {
	if u.public != nil {
		return strings.TrimRight(u.public.String(), "/")
	}
	host, port, err := net.SplitHostPort(u.cfg.ListenAddr)
	if err != nil || port == "0" || host == "" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port)
}

type credentialsData struct {
	Lease   *client.Lease
	Env     string
	Process string
	Creds   *client.Credentials
}

func (u *UI) credentials(w http.ResponseWriter, r *http.Request, s *session) {
	c := u.client(s)
	id := r.PathValue("id")
	l, err := c.LeaseGet(r.Context(), id)
	if err == nil {
		var cr *client.Credentials
		if cr, err = c.LeaseCredentials(r.Context(), id); err == nil {
			env := cr.EnvLines()
			flag := ""
			if base := u.cliURL(); base != "" {
				flag = " --url " + base
			}
			process := fmt.Sprintf("[profile ovm-%s]\ncredential_process = ovm lease credentials %s --format process%s\n", l.ID, l.ID, flag)
			u.render(w, r, http.StatusOK, &view{Page: "credentials", Title: "Credentials for " + l.ID, Me: &s.me, CSRF: s.csrf,
				Data: credentialsData{Lease: l, Env: env, Process: process, Creds: cr}})
			return
		}
	}
	u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
}

func (u *UI) console(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	a, err := u.client(s).LeaseConsole(r.Context(), id, "")
	if err != nil {
		u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
		return
	}
	link := a.URL
	if a.Simulated { // the sim's link opens nothing: show where it would land
		link = "/ui/simulated-console?lease=" + url.QueryEscape(id)
	}
	u.render(w, r, http.StatusOK, &view{Page: "console", Title: "AWS console", Me: &s.me, CSRF: s.csrf,
		Data: struct {
			LeaseID string
			URL     string
			Answer  *client.ConsoleAnswer
		}{id, link, a}})
}

// simulatedConsole is where the sim provider's console link lands in the
// console: the real one would be the AWS console, signed in.
func (u *UI) simulatedConsole(r *http.Request, s *session, v *view) error {
	l, err := u.client(s).LeaseGet(r.Context(), r.URL.Query().Get("lease"))
	if err != nil {
		return err
	}
	v.Page, v.Title, v.Data = "simulated", "Simulated AWS console", l
	return nil
}

// --- pools ---

func (u *UI) pools(r *http.Request, s *session, v *view) error {
	ps, err := u.client(s).PoolList(r.Context())
	if err != nil {
		return err
	}
	sort.Slice(ps.Items, func(i, j int) bool { return ps.Items[i].Name < ps.Items[j].Name })
	v.Page, v.Title, v.Data = "pools", "Pools", ps.Items
	return nil
}

type poolData struct {
	*client.Pool
	Chart *chart
}

func (u *UI) pool(r *http.Request, s *session, v *view) error {
	c := u.client(s)
	p, err := c.PoolGet(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	h, err := c.PoolHistory(r.Context(), p.Name)
	if err != nil {
		return err
	}
	v.Page, v.Title, v.Data = "pool", "Pool "+p.Name, poolData{Pool: p, Chart: newChart(h)}
	return nil
}

// --- operators ---

// accountStates are the filter's choices.
var accountStates = []ovm.AccountState{ovm.AccountPending, ovm.AccountCreating, ovm.AccountBootstrapping, ovm.AccountReady,
	ovm.AccountLeased, ovm.AccountCleaning, ovm.AccountClosing, ovm.AccountQuarantined, ovm.AccountClosed}

type accountsData struct {
	Accounts []client.Account
	States   []ovm.AccountState
	Pools    []client.Pool
	State    string
	Pool     string
	Next     string
}

func (u *UI) accounts(r *http.Request, s *session, v *view) error {
	q := r.URL.Query()
	c := u.client(s)
	ps, err := c.PoolList(r.Context())
	if err != nil {
		return err
	}
	d := accountsData{States: accountStates, Pools: ps.Items, State: q.Get("state"), Pool: q.Get("pool")}
	v.Page, v.Title, v.Data = "accounts", "Accounts", &d
	if d.State != "" && !slices.Contains(accountStates, ovm.AccountState(d.State)) {
		v.Errors = map[string]string{"state": "Choose a state from the list."}
		return nil
	}
	if d.Pool != "" && !poolKnown(ps.Items, d.Pool) {
		v.Errors = map[string]string{"pool": "Choose a pool from the list."}
		return nil
	}
	params := url.Values{"limit": {"100"}}
	for _, k := range []string{"state", "pool", "cursor"} {
		if q.Get(k) != "" {
			params.Set(k, q.Get(k))
		}
	}
	page, err := c.AccountList(r.Context(), params)
	if err != nil {
		return fieldError(v, "state", err)
	}
	d.Accounts, d.Next = page.Items, page.NextCursor
	return nil
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

func poolKnown(ps []client.Pool, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

type accountData struct {
	Account  *client.Account
	Evidence []ovm.Evidence
	Confirm  string // the action to confirm, if any
	// Events are the page of the log shown, newest first, and EventsNext
	// the cursor of the older ones ("" at the log's beginning).
	Events     []client.Event
	EventsNext string
	// Older says the page is not the newest (?events=<cursor>).
	Older bool
}

func (u *UI) account(r *http.Request, s *session, v *view) error {
	return u.fillAccount(r, s, v, "")
}

func (u *UI) fillAccount(r *http.Request, s *session, v *view, confirm string) error {
	c := u.client(s)
	a, err := c.AccountGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ev, err := c.Evidence(r.Context(), a.ID)
	if err != nil {
		return err
	}
	d := accountData{Account: a, Evidence: ev.Items, Confirm: confirm, Events: a.Events, EventsNext: a.EventsNextCursor}
	if cursor := r.URL.Query().Get("events"); cursor != "" {
		page, err := c.AccountEvents(r.Context(), a.ID, url.Values{"cursor": {cursor}, "limit": {"100"}})
		if err != nil {
			return err
		}
		d.Events, d.EventsNext, d.Older = page.Items, page.NextCursor, true
	}
	v.Page, v.Title, v.Data = "account", "Account "+a.ID, d
	return nil
}

// evidence passes an evidence file on (to an admin: its route is one), with
// the API's content type; a captured page stays sandboxed (no script, an
// origin of its own).
func (u *UI) evidence(w http.ResponseWriter, r *http.Request) {
	s := u.current(r)
	if s == nil {
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	v := &view{Me: &s.me, CSRF: s.csrf}
	b, ct, err := u.client(s).EvidenceFile(r.Context(), r.PathValue("id"), r.PathValue("record"), r.PathValue("file"))
	if err != nil {
		u.failed(w, r, s, v, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Security-Policy", client.EvidenceCSP)
	w.Header().Set("Cache-Control", "private, no-store")
	w.Write(b)
}

// accountAction retries or retires an account once the form confirms it;
// without confirm=yes it shows the confirmation.
func (u *UI) accountAction(what string) func(w http.ResponseWriter, r *http.Request, s *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		v := &view{Me: &s.me, CSRF: s.csrf}
		if r.PostFormValue("confirm") != "yes" {
			if err := u.fillAccount(r, s, v, what); err != nil {
				u.failed(w, r, s, v, err)
				return
			}
			u.render(w, r, http.StatusOK, v)
			return
		}
		c := u.client(s)
		id := r.PathValue("id")
		var err error
		if what == "retry" {
			_, err = c.AccountRetry(r.Context(), id)
		} else {
			_, err = c.AccountRetire(r.Context(), id)
		}
		if err != nil {
			if ae := apiError(err); ae != nil && ae.Status == http.StatusConflict {
				if ferr := u.fillAccount(r, s, v, ""); ferr == nil {
					v.Error = ae.Message
					u.render(w, r, http.StatusConflict, v)
					return
				}
			}
			u.failed(w, r, s, v, err)
			return
		}
		done := map[string]string{"retry": "retried", "retire": "retired"}[what]
		http.Redirect(w, r, "/ui/accounts/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
	}
}

type keysData struct {
	Next    string
	Keys    []client.Key
	Created *client.Key
	Confirm string // the key id whose revocation to confirm
}

func (u *UI) keys(r *http.Request, s *session, v *view) error {
	u.mu.Lock()
	created := s.newKey
	s.newKey = nil
	u.mu.Unlock()
	return u.fillKeys(r, s, v, created, "")
}

func (u *UI) fillKeys(r *http.Request, s *session, v *view, created *client.Key, confirm string) error {
	ks, err := u.client(s).KeyList(r.Context(), withCursor(r, url.Values{"limit": {"100"}}))
	if err != nil {
		return err
	}
	v.Page, v.Title, v.Data = "keys", "API keys", keysData{Keys: ks.Items, Created: created, Confirm: confirm, Next: ks.NextCursor}
	return nil
}

func (u *UI) keyCreate(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Me: &s.me, CSRF: s.csrf, Form: r.PostForm}
	req := &client.KeyRequest{Name: strings.TrimSpace(r.PostFormValue("name")), Role: ovm.Role(r.PostFormValue("role"))}
	errs := map[string]string{}
	if req.Name == "" {
		errs["name"] = "Give the key a name (who or what uses it)."
	}
	if !req.Role.Valid() {
		errs["role"] = "Choose user or admin."
	}
	var created *client.Key
	if len(errs) == 0 {
		k, err := u.client(s).KeyCreate(r.Context(), req)
		if ae := apiError(err); ae != nil && ae.Status < 500 && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden {
			errs["name"] = ae.Message
		} else if err != nil {
			u.failed(w, r, s, v, err)
			return
		}
		created = k
	}
	if len(errs) == 0 {
		// Shown once by the page the browser goes to: reloading it makes
		// no second key.
		u.mu.Lock()
		s.newKey = created
		u.mu.Unlock()
		http.Redirect(w, r, "/ui/keys", http.StatusSeeOther)
		return
	}
	if err := u.fillKeys(r, s, v, nil, ""); err != nil {
		u.failed(w, r, s, v, err)
		return
	}
	v.Errors = errs
	u.render(w, r, http.StatusBadRequest, v)
}

func (u *UI) keyRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Me: &s.me, CSRF: s.csrf}
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		if err := u.fillKeys(r, s, v, nil, id); err != nil {
			u.failed(w, r, s, v, err)
			return
		}
		u.render(w, r, http.StatusOK, v)
		return
	}
	if _, err := u.client(s).KeyRevoke(r.Context(), id); err != nil {
		if ae := apiError(err); ae != nil && ae.Status == http.StatusConflict {
			if ferr := u.fillKeys(r, s, v, nil, ""); ferr == nil {
				v.Error = ae.Message
				u.render(w, r, http.StatusConflict, v)
				return
			}
		}
		u.failed(w, r, s, v, err)
		return
	}
	http.Redirect(w, r, "/ui/keys?done=revoked", http.StatusSeeOther)
}

type deliveriesData struct {
	Next       string
	Deliveries []client.Delivery
	State      string
	States     []string
}

func (u *UI) deliveries(r *http.Request, s *session, v *view) error {
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "failed"
	}
	d := deliveriesData{State: state, States: []string{string(ovm.DeliveryFailed), string(ovm.DeliveryPending), string(ovm.DeliveryDelivered)}}
	v.Page, v.Title, v.Data = "deliveries", "Notification deliveries", &d
	ds, err := u.client(s).DeliveryList(r.Context(), withCursor(r, url.Values{"state": {state}, "limit": {"100"}}))
	if err != nil {
		return fieldError(v, "state", err)
	}
	d.Deliveries, d.Next = ds.Items, ds.NextCursor
	return nil
}

func (u *UI) deliveryRetry(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := u.client(s).DeliveryRetry(r.Context(), r.PathValue("id")); err != nil {
		u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
		return
	}
	http.Redirect(w, r, "/ui/deliveries?done=resent", http.StatusSeeOther)
}
