package webui

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// login is a sign-in under way at an issuer, found again by its state.
type login struct {
	issuer   int
	verifier string // PKCE
	nonce    string
	redirect string
	expires  time.Time
}

// loginTTL bounds how long a person may take at the issuer.
const loginTTL = 10 * time.Minute

// loginCookie binds a sign-in's state to the browser that started it, so
// nobody can finish a sign-in in another person's browser.
const loginCookie = "ovm_login"

// oidcClients discovers each issuer once it is first used; a failed
// discovery is tried again at the next sign-in.
type oidcClients struct {
	cfg       Config
	mu        sync.Mutex
	providers map[int]*oidc.Provider
}

func newOIDCClients(cfg Config) *oidcClients {
	return &oidcClients{cfg: cfg, providers: map[int]*oidc.Provider{}}
}

func (c *oidcClients) provider(ctx context.Context, i int) (*oidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.providers[i]; p != nil {
		return p, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.cfg.HTTP), c.cfg.Issuers[i].URL)
	if err != nil {
		return nil, fmt.Errorf("the issuer %s did not answer its discovery document", c.cfg.Issuers[i].URL)
	}
	c.providers[i] = p
	return p, nil
}

func (c *oidcClients) oauth(p *oidc.Provider, i int, redirect string) *oauth2.Config {
	is := c.cfg.Issuers[i]
	scopes := append([]string{oidc.ScopeOpenID}, is.Scopes...)
	if len(is.Scopes) == 0 {
		scopes = append(scopes, "email", "profile")
	}
	return &oauth2.Config{ClientID: is.ClientID, ClientSecret: is.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: redirect, Scopes: scopes}
}

// redirectURL is the callback the issuer sends the browser back to.
func redirectURL(r *http.Request) string {
	scheme := "http"
	if secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/ui/callback"
}

// loginOIDC starts a sign-in with issuer i: PKCE verifier, nonce and
// state kept here, the state also in a cookie, and off to the issuer.
func (u *UI) loginOIDC(w http.ResponseWriter, r *http.Request) {
	var i int
	if _, err := fmt.Sscan(r.URL.Query().Get("issuer"), &i); err != nil || i < 0 || i >= len(u.cfg.Issuers) {
		u.signInPage(w, r, http.StatusBadRequest, "", "There is no such issuer to sign in with.")
		return
	}
	p, err := u.oidc.provider(r.Context(), i)
	if err != nil {
		u.signInPage(w, r, http.StatusServiceUnavailable, "", err.Error()+"; try again in a moment, or sign in with an API key.")
		return
	}
	l := &login{issuer: i, verifier: oauth2.GenerateVerifier(), nonce: newToken(), redirect: redirectURL(r),
		expires: u.clock.Now().Add(loginTTL)}
	state := newToken()
	u.mu.Lock()
	now := u.clock.Now()
	for k, old := range u.logins {
		if !now.Before(old.expires) {
			delete(u.logins, k)
		}
	}
	u.logins[state] = l
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: state, Path: "/ui/", MaxAge: int(loginTTL.Seconds()),
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
	to := u.oidc.oauth(p, i, l.redirect).AuthCodeURL(state, oidc.Nonce(l.nonce), oauth2.S256ChallengeOption(l.verifier))
	http.Redirect(w, r, to, http.StatusFound)
}

// callback finishes a sign-in: the state must be the browser's, the code
// is exchanged with the PKCE verifier, the ID token verified (signature,
// audience, expiry, nonce), and the API says who it is.
func (u *UI) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	c, err := r.Cookie(loginCookie)
	u.mu.Lock()
	l := u.logins[state]
	delete(u.logins, state)
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode})
	switch {
	case err != nil || state == "" || l == nil || c.Value != state:
		u.signInPage(w, r, http.StatusBadRequest, "", "This sign-in was not started in this browser, or was already used: sign in again.")
		return
	case !u.clock.Now().Before(l.expires):
		u.signInPage(w, r, http.StatusBadRequest, "", "The sign-in took too long: sign in again.")
		return
	case q.Get("error") != "":
		u.signInPage(w, r, http.StatusUnauthorized, "", "The issuer refused the sign-in: "+q.Get("error")+".")
		return
	}
	p, err := u.oidc.provider(r.Context(), l.issuer)
	if err != nil {
		u.signInPage(w, r, http.StatusServiceUnavailable, "", err.Error()+".")
		return
	}
	ctx := oidc.ClientContext(r.Context(), u.cfg.HTTP)
	tok, err := u.oidc.oauth(p, l.issuer, l.redirect).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.verifier))
	if err != nil {
		u.log.Info("console sign-in: the issuer refused the code", "issuer", u.cfg.Issuers[l.issuer].URL)
		u.signInPage(w, r, http.StatusUnauthorized, "", "The issuer refused to exchange the sign-in code: sign in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: u.cfg.Issuers[l.issuer].ClientID, Now: u.clock.Now}).Verify(ctx, raw)
	if err != nil || idt.Nonce == "" || idt.Nonce != l.nonce {
		u.signInPage(w, r, http.StatusUnauthorized, "", "The issuer's ID token did not verify: sign in again.")
		return
	}
	me, err := u.client(&session{cred: raw}).Me(r.Context())
	if err != nil {
		msg := "OVM does not accept this sign-in."
		if ae := apiError(err); ae != nil {
			msg = "OVM does not accept this sign-in: " + ae.Message
		}
		u.signInPage(w, r, http.StatusForbidden, "", msg)
		return
	}
	expires := u.clock.Now().Add(u.cfg.SessionTTL)
	if idt.Expiry.Before(expires) {
		expires = idt.Expiry
	}
	u.start(w, r, raw, *me, expires)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}
