package identitytest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// User is who signs in at the issuer's authorization endpoint: the claims
// its ID tokens carry besides iss, aud, iat, exp and nonce.
type User map[string]any

// pendingCode is an authorization code not yet exchanged.
type pendingCode struct {
	clientID, redirect, challenge, nonce string
	user                                 User
}

// SetUser makes user the one signed in at the issuer: the authorization
// endpoint approves every request as this user at once (nil: it answers
// access_denied to the client's redirect URI).
func (is *Issuer) SetUser(u User) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.user = u
}

// SetClientSecret makes the token endpoint require secret from the client
// (HTTP Basic or the client_secret form field); "" for a public client.
func (is *Issuer) SetClientSecret(secret string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.clientSecret = secret
}

// authorize is the authorization endpoint of the code flow: it requires
// PKCE with S256 and redirects to the client with a code, or an error.
func (is *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	is.mu.Lock()
	user := is.user
	is.mu.Unlock()
	switch {
	case q.Get("response_type") != "code":
		back.Set("error", "unsupported_response_type")
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43:
		back.Set("error", "invalid_request")
	case user == nil:
		back.Set("error", "access_denied")
	default:
		var b [24]byte
		rand.Read(b[:])
		code := base64.RawURLEncoding.EncodeToString(b[:])
		is.mu.Lock()
		if is.codes == nil {
			is.codes = map[string]pendingCode{}
		}
		is.codes[code] = pendingCode{clientID: q.Get("client_id"), redirect: q.Get("redirect_uri"),
			challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), user: user}
		is.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token is the token endpoint: a code is exchanged once, by the client it
// was issued to, with the same redirect URI and the PKCE verifier.
func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	fail := func(code string) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	if r.Method != http.MethodPost || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "authorization_code" {
		fail("invalid_request")
		return
	}
	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	is.mu.Lock()
	pc, ok := is.codes[r.PostForm.Get("code")]
	delete(is.codes, r.PostForm.Get("code"))
	want := is.clientSecret
	is.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case !ok || pc.clientID != clientID || pc.redirect != r.PostForm.Get("redirect_uri"):
		fail("invalid_grant")
		return
	case want != "" && secret != want:
		fail("invalid_client")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != pc.challenge:
		fail("invalid_grant")
		return
	}
	now := time.Now()
	if is.Now != nil {
		now = is.Now()
	}
	claims := map[string]any{"iss": is.URL, "aud": clientID, "iat": now.Unix(), "nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "nonce": pc.nonce}
	for k, v := range pc.user {
		claims[k] = v
	}
	json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + r.PostForm.Get("code"), "token_type": "Bearer",
		"expires_in": 3600, "id_token": is.Sign(nil, claims)})
}
