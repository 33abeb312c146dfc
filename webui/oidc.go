package webui

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/ovmdev/ovm"
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

// oidcClients discovers each issuer when it is first used. A discovery
// is bounded (discoveryTimeout) and runs once at a time per issuer, without
// a lock held: concurrent sign-ins wait for it, or for their own request's
// end. A failure is remembered for retryDiscovery, so an issuer that does
// not answer costs each sign-in nothing more than a quick refusal.
type oidcClients struct {
	cfg     Config
	clock   ovm.Clock
	mu      sync.Mutex
	issuers map[int]*discovery
}

type discovery struct {
	p        *oidc.Provider
	err      error
	failedAt time.Time
	done     chan struct{} // closed when the discovery under way ends; nil when none
}

const (
	discoveryTimeout = 10 * time.Second
	retryDiscovery   = 30 * time.Second
)

func newOIDCClients(cfg Config, clock ovm.Clock) *oidcClients {
	return &oidcClients{cfg: cfg, clock: clock, issuers: map[int]*discovery{}}
}

func (c *oidcClients) provider(ctx context.Context, i int) (*oidc.Provider, error) {
	c.mu.Lock()
	d := c.issuers[i]
	if d == nil {
		d = &discovery{}
		c.issuers[i] = d
	}
	switch {
	case d.p != nil:
		c.mu.Unlock()
		return d.p, nil
	case d.done != nil: // another sign-in discovers it: wait for that
		done := d.done
		c.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
		p, err := d.p, d.err
		c.mu.Unlock()
		if p == nil && err == nil {
			err = fmt.Errorf("the issuer %s did not answer its discovery document", c.cfg.Issuers[i].URL)
		}
		return p, err
	case d.err != nil && c.clock.Now().Sub(d.failedAt) < retryDiscovery:
		err := d.err
		c.mu.Unlock()
		return nil, err
	}
	d.done = make(chan struct{})
	done := d.done
	c.mu.Unlock()
	// The discovery outlives a sign-in that gives up: others wait for it.
	dctx, cancel := context.WithTimeout(oidc.ClientContext(context.WithoutCancel(ctx), c.cfg.HTTP), discoveryTimeout)
	p, err := oidc.NewProvider(dctx, c.cfg.Issuers[i].URL)
	cancel()
	c.mu.Lock()
	d.done = nil
	if err != nil {
		d.err, d.failedAt = fmt.Errorf("the issuer %s did not answer its discovery document: %w", c.cfg.Issuers[i].URL, err), c.clock.Now()
	} else {
		d.p, d.err = p, nil
	}
	p, err = d.p, d.err
	c.mu.Unlock()
	close(done)
	return p, err
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

// redirectURL is the callback the issuer sends the browser back to:
// under ui.public_url, or, without it, on a loopback host only (the Host
// header is the client's to say, so it is trusted nowhere else).
func (u *UI) redirectURL(r *http.Request) (string, error) {
	if u.public != nil {
		return strings.TrimRight(u.public.String(), "/") + "/ui/callback", nil
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", errors.New("signing in with an issuer needs ui.public_url (the address people reach OVM at), unless OVM is on loopback")
	}
	return "http://" + r.Host + "/ui/callback", nil
}

// loginOIDC starts a sign-in with issuer i: PKCE verifier, nonce and
// state kept here, the state also in a cookie, and off to the issuer.
func (u *UI) loginOIDC(w http.ResponseWriter, r *http.Request) {
	var i int
	if _, err := fmt.Sscan(r.URL.Query().Get("issuer"), &i); err != nil || i < 0 || i >= len(u.cfg.Issuers) {
		u.signInPage(w, r, http.StatusBadRequest, "", "There is no such issuer to sign in with.")
		return
	}
	redirect, err := u.redirectURL(r)
	if err != nil {
		u.signInPage(w, r, http.StatusBadRequest, "", err.Error()+".")
		return
	}
	p, err := u.oidc.provider(r.Context(), i)
	if err != nil {
		u.log.Warn("console sign-in: issuer discovery failed", "issuer", u.cfg.Issuers[i].URL, ovm.LogError, err)
		u.signInPage(w, r, http.StatusServiceUnavailable, "", fmt.Sprintf("The issuer %s did not answer; try again in a moment, or sign in with an API key.", u.cfg.Issuers[i].URL))
		return
	}
	l := &login{issuer: i, verifier: oauth2.GenerateVerifier(), nonce: newToken(), redirect: redirect,
		expires: u.clock.Now().Add(loginTTL)}
	state := newToken()
	if !u.addLogin(state, l) {
		u.signInPage(w, r, http.StatusServiceUnavailable, "", "Too many sign-ins are under way; try again in a minute.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: state, Path: "/ui/", MaxAge: int(loginTTL.Seconds()),
		HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteLaxMode})
	to := u.oidc.oauth(p, i, l.redirect).AuthCodeURL(state, oidc.Nonce(l.nonce), oauth2.S256ChallengeOption(l.verifier))
	http.Redirect(w, r, to, http.StatusFound)
}

// addLogin keeps sign-in l under state, within maxLogins (expired ones
// are swept first when the bound is reached).
func (u *UI) addLogin(state string, l *login) bool {
	u.loginMu.Lock()
	defer u.loginMu.Unlock()
	if len(u.logins) >= maxLogins {
		now := u.clock.Now()
		for k, old := range u.logins {
			if !now.Before(old.expires) {
				delete(u.logins, k)
			}
		}
	}
	if len(u.logins) >= maxLogins {
		return false
	}
	u.logins[state] = l
	return true
}

// callback finishes a sign-in: the state must be the browser's, the code
// is exchanged with the PKCE verifier, the ID token verified (signature,
// audience, expiry, nonce), and the API says who it is.
func (u *UI) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	c, err := r.Cookie(loginCookie)
	var l *login
	if err == nil && state != "" && c.Value == state { // a state of another browser is left alone
		u.loginMu.Lock()
		l = u.logins[state]
		delete(u.logins, state)
		u.loginMu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteLaxMode})
	switch {
	case l == nil:
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
		u.log.Warn("console sign-in: the issuer refused the code", "issuer", u.cfg.Issuers[l.issuer].URL, ovm.LogError, oauthError(err))
		u.signInPage(w, r, http.StatusUnauthorized, "", "The issuer refused to exchange the sign-in code: sign in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: u.cfg.Issuers[l.issuer].ClientID, Now: u.clock.Now}).Verify(ctx, raw)
	if err == nil && (idt.Nonce == "" || idt.Nonce != l.nonce) {
		err = errors.New("the nonce is not this sign-in's")
	}
	if err != nil {
		u.log.Warn("console sign-in: the ID token did not verify", "issuer", u.cfg.Issuers[l.issuer].URL, ovm.LogError, err)
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

// oauthError is what may be logged of a failed exchange: the issuer's
// error code, never the request (it held the code and the verifier).
func oauthError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Errorf("token endpoint answered %d %s", re.Response.StatusCode, re.ErrorCode)
	}
	return errors.New("the token endpoint could not be reached")
}
