// Package identitytest is a test OIDC issuer on loopback: a discovery
// document and a key set (JWKS) served by an httptest server, keys made in
// the test, and tokens signed with them (go-jose). It is a real issuer as
// far as OVM can tell; it also signs the tokens an attacker would forge
// (alg none, HS256 with the public key), and can be made to fail. For the
// web console it also runs the authorization code flow with PKCE, approving
// every request as the user the test sets.
package identitytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is a signing key of the issuer.
type Key struct {
	ID      string
	Alg     jose.SignatureAlgorithm
	Private crypto.Signer
}

// Issuer is a test OIDC issuer. Its zero value is not usable: call New.
type Issuer struct {
	// URL is the issuer URL, the iss of its tokens (http://127.0.0.1:port).
	URL string
	// Key signs tokens by default; it is published from the start.
	Key *Key

	t         testing.TB
	srv       *httptest.Server
	mu        sync.Mutex
	published []*Key
	down      atomic.Bool
	// Discoveries and KeyFetches count the requests received.
	Discoveries, KeyFetches atomic.Int32
	// Now, when set before the first sign-in, is the clock of the ID
	// tokens the token endpoint issues (iat, nbf, and exp an hour later);
	// default time.Now. Give it a test's clock when OVM runs on one.
	Now func() time.Time

	user         User
	clientSecret string
	codes        map[string]pendingCode
}

// New starts an issuer with one RSA key, closed when the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{t: t}
	is.srv = httptest.NewServer(http.HandlerFunc(is.serve))
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL
	is.Key = is.NewKey("k1", jose.RS256)
	is.Publish(is.Key)
	return is
}

// NewKey makes a key (RS*, PS* or ES256), not yet published.
func (is *Issuer) NewKey(id string, alg jose.SignatureAlgorithm) *Key {
	is.t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		is.t.Fatal(err)
	}
	return &Key{ID: id, Alg: alg, Private: priv}
}

// Publish makes keys the issuer's key set, in place of the previous one.
func (is *Issuer) Publish(keys ...*Key) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.published = keys
}

// SetDown makes the issuer answer 503 to everything (true) or serve again.
func (is *Issuer) SetDown(down bool) { is.down.Store(down) }

func (is *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		is.Discoveries.Add(1)
	case "/keys":
		is.KeyFetches.Add(1)
	}
	if is.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.URL, "jwks_uri": is.URL + "/keys",
			"authorization_endpoint": is.URL + "/authorize", "token_endpoint": is.URL + "/token",
			"response_types_supported":              []string{"code", "id_token"},
			"code_challenge_methods_supported":      []string{"S256"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	case "/authorize":
		is.authorize(w, r)
	case "/token":
		is.token(w, r)
	case "/keys":
		is.mu.Lock()
		var set jose.JSONWebKeySet
		for _, k := range is.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Private.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"})
		}
		is.mu.Unlock()
		json.NewEncoder(w).Encode(set)
	default:
		http.NotFound(w, r)
	}
}

// Claims are a good token's claims for audience at now: iss, aud, sub,
// iat, nbf, exp (in 5 minutes), and GitHub Actions' repository and
// repository_owner.
func (is *Issuer) Claims(audience string, now time.Time) map[string]any {
	return map[string]any{
		"iss": is.URL, "aud": audience, "sub": "repo:my-org/app:ref:refs/heads/main",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"repository": "my-org/app", "repository_owner": "my-org",
	}
}

// Sign signs claims with key (nil: the issuer's Key).
func (is *Issuer) Sign(key *Key, claims map[string]any) string {
	is.t.Helper()
	if key == nil {
		key = is.Key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: key.Alg, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		is.t.Fatal(err)
	}
	jws, err := signer.Sign(is.payload(claims))
	if err != nil {
		is.t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		is.t.Fatal(err)
	}
	return raw
}

// SignNone makes an unsigned token (alg none).
func (is *Issuer) SignNone(claims map[string]any) string {
	return segment([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + segment(is.payload(claims)) + "."
}

// SignHMACWithPublicKey makes the classic forgery: an HS256 token whose
// secret is the issuer key's public key (PEM), which anyone can fetch.
func (is *Issuer) SignHMACWithPublicKey(claims map[string]any) string {
	is.t.Helper()
	der, err := x509.MarshalPKIXPublicKey(is.Key.Private.Public())
	if err != nil {
		is.t.Fatal(err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	input := segment([]byte(`{"alg":"HS256","typ":"JWT","kid":"`+is.Key.ID+`"}`)) + "." + segment(is.payload(claims))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + segment(mac.Sum(nil))
}

func (is *Issuer) payload(claims map[string]any) []byte {
	b, err := json.Marshal(claims)
	if err != nil {
		is.t.Fatal(err)
	}
	return b
}

func segment(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
