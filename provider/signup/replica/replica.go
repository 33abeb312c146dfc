// Package replica is a local imitation of the AWS sign-up and console
// flows, for tests only (no binary imports it). It reproduces the structure
// of the 2023 sign-up described in SIGNUP-NOTES.md: e-mail and account name,
// an e-mail one-time code, the root password, a contact page with a country
// combobox, payment with optional 3-D Secure, identity verification by a
// voice call that shows a PIN which must be keyed in, image and audio
// captchas, the support plan, and console pages for billing preferences, the
// cross-account role stack and account closure.
//
// Variants act out "AWS changed the page": a renamed field, a captcha that
// moved to another page, an extra step. Each is fixed by a flow-file change.
package replica

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"strings"
	"sync"
)

// Variant is a change of the pages, as AWS makes them from time to time.
type Variant string

const (
	// Original is the 2023 flow.
	Original Variant = ""
	// RenamedField relabels the e-mail field of the first page.
	RenamedField Variant = "renamed-field"
	// MovedCaptcha moves the captcha from the identity page to the first page.
	MovedCaptcha Variant = "moved-captcha"
	// ExtraStep adds a questionnaire page between contact and payment.
	ExtraStep Variant = "extra-step"
)

// Mail delivers the replica's e-mails (one-time codes).
type Mail interface {
	Send(to, subject, body string) error
}

// Phone places the verification call: it "dials" number and returns the
// digits the callee keys in (OVM's phone channel answers).
type Phone interface {
	Call(number string) (digits string, err error)
}

// Console receives what the console does in the new account.
type Console interface {
	// CreateRole makes the cross-account role of the stack template in
	// account accountID, trusted by principal.
	CreateRole(accountID, roleName, principal string) error
}

// Account is a signed-up account as the replica holds it.
type Account struct {
	ID           string
	Email        string
	Name         string
	Password     string
	Country      string
	Card         string
	Phone        string
	Support      string
	Currency     string
	PDFInvoices  bool
	BillingEmail string
	Role         string
	Closed       bool
	// TaxInheritance was enabled (before closing, against invoice floods).
	TaxInheritance bool
	Resets         int      // passwords reset by e-mail
	Steps          []string // pages completed, in order
}

// Server is the replica. Its zero value is not usable: use New.
type Server struct {
	Mail    Mail
	Phone   Phone
	Console Console

	mu       sync.Mutex
	variant  Variant
	sessions map[string]*session
	accounts map[string]*Account // by e-mail
	resets   map[string]*Account // by password reset token
	// CaptchaAnswer is the last captcha shown (tests of solvers read it).
	captchas map[string]string
	mux      *http.ServeMux
	// Fail, when set, makes the page of that name answer 500 once.
	failOnce map[string]bool
}

type session struct {
	id       string
	acct     *Account
	code     string // e-mail one-time code
	pin      string // identity PIN
	verified bool   // phone verified
	page     string // where the session is
	captcha  string // expected answer
	threeDS  string // expected 3-D Secure code
	loggedIn bool
}

// New returns a replica showing variant v.
func New(v Variant, mail Mail, phone Phone, console Console) *Server {
	s := &Server{Mail: mail, Phone: phone, Console: console, variant: v, sessions: map[string]*session{},
		accounts: map[string]*Account{}, resets: map[string]*Account{}, captchas: map[string]string{}, failOnce: map[string]bool{}}
	s.routes()
	return s
}

// SetVariant switches the pages to variant v.
func (s *Server) SetVariant(v Variant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.variant = v
}

// FailOnce makes page answer a server error the next time it is shown: a
// sign-up page (start, verify, ..., done) or a console page (billing,
// stack, tax, close, home).
func (s *Server) FailOnce(page string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOnce[page] = true
}

// Accounts returns the accounts signed up so far.
func (s *Server) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Account
	for _, a := range s.accounts {
		out = append(out, *a)
	}
	return out
}

// Captcha returns the answer of the captcha last shown for a session's
// audio or image file token (solver tests).
func (s *Server) Captcha(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.captchas[token]
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func randDigits(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// sess finds or starts the browser's session.
func (s *Server) sess(w http.ResponseWriter, r *http.Request) *session {
	if c, err := r.Cookie("replica_session"); err == nil {
		if se := s.sessions[c.Value]; se != nil {
			return se
		}
	}
	se := &session{id: randHex(16), page: "start"}
	s.sessions[se.id] = se
	http.SetCookie(w, &http.Cookie{Name: "replica_session", Value: se.id, Path: "/", HttpOnly: true})
	return se
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto} label{display:block;margin-top:1em}
.error{color:#b00} [role=listbox]{border:1px solid #888;max-height:8em;overflow:auto} [role=option]{padding:2px;cursor:pointer}</style>
</head><body><h1>{{.Title}}</h1>{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">{{.Body}}</form>{{.After}}
<script>
document.querySelectorAll('[role=combobox]').forEach(function(cb){
  var list=document.getElementById(cb.getAttribute('aria-controls')), hidden=document.getElementById(cb.dataset.target);
  cb.addEventListener('focus',function(){list.hidden=false});
  cb.addEventListener('input',function(){var v=cb.value.toLowerCase();
    list.querySelectorAll('[role=option]').forEach(function(o){o.hidden=o.textContent.toLowerCase().indexOf(v)<0})});
  list.querySelectorAll('[role=option]').forEach(function(o){o.addEventListener('click',function(){
    cb.value=o.textContent; hidden.value=o.dataset.value; list.hidden=true; cb.setAttribute('aria-expanded','false')})});
});
</script></body></html>`))

type view struct {
	Title, Action, Error string
	Body, After          template.HTML
}

func (s *Server) render(w http.ResponseWriter, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, v)
}

func field(label, name, typ string) string {
	id := "f-" + name
	return fmt.Sprintf(`<label for="%s">%s</label><input id="%s" name="%s" type="%s">`, id, label, id, name, typ)
}

func button(label string) string {
	return fmt.Sprintf(`<p><button type="submit">%s</button></p>`, label)
}
