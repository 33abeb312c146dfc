package webui

import (
	"context"
	"crypto/subtle"
	"encoding/json"
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

// login is a sign-in under way at an issuer. The browser keeps it, sealed
// in its loginCookie, and brings it back to the callback: the console
// holds nothing per sign-in, so no number of sign-ins started (by anyone,
// without signing in) can crowd out another.
type login struct {
	State    string `json:"s"` // must come back from the issuer
	Issuer   int    `json:"i"`
	Verifier string `json:"v"` // PKCE
	Nonce    string `json:"n"` // must be in the ID token
	Redirect string `json:"r"` // the redirect URI the code is for
	Expires  int64  `json:"e"` // unix seconds
}

// loginTTL bounds how long a person may take at the issuer.
const loginTTL = 10 * time.Minute

// loginCookie holds the sealed sign-in, so that it can be finished only in
// the browser that started it; loginPurpose is its sealing's purpose.
const (
	loginCookie  = "ovm_login"
	loginPurpose = "ovm sign-in v1"
)

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

// loginOIDC starts a sign-in with issuer i: a PKCE verifier, a nonce and
// a state, sealed in a cookie for the callback, and off to the issuer.
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
	l := login{State: newToken(), Issuer: i, Verifier: oauth2.GenerateVerifier(), Nonce: newToken(), Redirect: redirect,
		Expires: u.clock.Now().Add(loginTTL).Unix()}
	plain, _ := json.Marshal(l)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: u.seal.seal(loginPurpose, plain), Path: "/ui/callback",
		MaxAge: int(loginTTL.Seconds()), HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteLaxMode})
	to := u.oidc.oauth(p, i, l.Redirect).AuthCodeURL(l.State, oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier))
	http.Redirect(w, r, to, http.StatusFound)
}

// loginOf opens the request's sign-in cookie: nil when there is none, it
// was not sealed by this process (another replica's, or from before a
// restart), it was changed, or its state is not the one the issuer sent
// back (another browser's sign-in).
func (u *UI) loginOf(r *http.Request, state string) *login {
	c, err := r.Cookie(loginCookie)
	if err != nil || state == "" {
		return nil
	}
	plain, ok := u.seal.open(loginPurpose, c.Value)
	var l login
	if !ok || json.Unmarshal(plain, &l) != nil || l.Issuer < 0 || l.Issuer >= len(u.cfg.Issuers) ||
		subtle.ConstantTimeCompare([]byte(l.State), []byte(state)) != 1 {
		return nil
	}
	return &l
}

// callback finishes a sign-in: the state must be the one sealed in this
// browser's cookie, the code is exchanged with the PKCE verifier, the ID
// token verified (signature, audience, expiry, nonce), and the API says
// who it is. The cookie is cleared whatever comes of it, so a sign-in is
// finished once; the issuer takes a code once.
func (u *UI) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	l := u.loginOf(r, q.Get("state"))
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/ui/callback", MaxAge: -1, HttpOnly: true,
		Secure: u.secure(r), SameSite: http.SameSiteLaxMode})
	switch {
	case l == nil:
		u.signInPage(w, r, http.StatusBadRequest, "", "This sign-in was not started in this browser, or was already used: sign in again.")
		return
	case !u.clock.Now().Before(time.Unix(l.Expires, 0)):
		u.signInPage(w, r, http.StatusBadRequest, "", "The sign-in took too long: sign in again.")
		return
	case q.Get("error") != "":
		u.signInPage(w, r, http.StatusUnauthorized, "", "The issuer refused the sign-in: "+q.Get("error")+".")
		return
	}
	is := u.cfg.Issuers[l.Issuer]
	p, err := u.oidc.provider(r.Context(), l.Issuer)
	if err != nil {
		u.signInPage(w, r, http.StatusServiceUnavailable, "", err.Error()+".")
		return
	}
	ctx := oidc.ClientContext(r.Context(), u.cfg.HTTP)
	tok, err := u.oidc.oauth(p, l.Issuer, l.Redirect).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		u.log.Warn("console sign-in: the issuer refused the code", "issuer", is.URL, ovm.LogError, oauthError(err))
		u.signInPage(w, r, http.StatusUnauthorized, "", "The issuer refused to exchange the sign-in code: sign in again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: is.ClientID, Now: u.clock.Now}).Verify(ctx, raw)
	if err == nil && (idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(l.Nonce)) != 1) {
		err = errors.New("the nonce is not this sign-in's")
	}
	if err != nil {
		u.log.Warn("console sign-in: the ID token did not verify", "issuer", is.URL, ovm.LogError, err)
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
	u.start(w, r, tokenPrincipal(is.URL, *me), raw, *me, expires)
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
