// Package identity turns a request's credentials into a principal: an
// owner, who holds the leases, and a role. For now it verifies OIDC ID
// tokens, such as a CI job's token from GitHub Actions, sent as bearer
// tokens (docs/oidc.md); httpapi still looks up API keys itself.
//
// go-oidc checks the signature, the issuer, the audience and the expiry,
// with the issuer's discovery document fetched on the first token and
// cached. The key set is this package's (keySet): fetched on the first
// token, and again for a key it does not hold at most once per RefetchKeys,
// so that forged key ids cannot make OVM hammer the issuer. Only
// asymmetric algorithms are accepted. This package adds not-before with a
// bounded skew, the required claims and the owner.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/ovmdev/ovm"
)

const (
	// Leeway is the clock skew allowed between OVM and an issuer: a token
	// is accepted from Leeway before its nbf to Leeway after its exp.
	Leeway = time.Minute
	// FetchTimeout bounds one request to an issuer (its discovery document
	// or its key set).
	FetchTimeout = 10 * time.Second
	// RetryDiscovery is how long after a failed discovery the next token
	// tries again; tokens in between are answered unavailable at once.
	RetryDiscovery = 30 * time.Second
	// RefetchKeys is the shortest time between two fetches of an issuer's
	// key set: a token whose key is not in the set fetches it again only
	// when the last fetch is older (a key rotation is seen within it); until
	// then such a token is refused without a fetch.
	RefetchKeys = 30 * time.Second
	// MaxTokenBytes bounds a token (ID tokens are a few KiB).
	MaxTokenBytes = 16 << 10
	// maxOwner bounds an owner's length.
	maxOwner = 256
)

// Log attribute keys of this package.
const (
	logIssuer = "issuer"
	logOwner  = "owner"
	logReason = "reason"
	// logConfigKey is a configuration key path (auth.oidc[0].owner_claim).
	logConfigKey = "config_key"
)

// algorithms are the signature algorithms accepted: asymmetric only, so
// that a key set's public key can never be used as an HMAC secret, and
// never "none".
var algorithms = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// refusedAlgs are parsed only to name them when refusing a token.
var refusedAlgs = []jose.SignatureAlgorithm{"none", jose.HS256, jose.HS384, jose.HS512}

// Verifier verifies the ID tokens of the configured issuers. It is safe for
// concurrent use.
type Verifier struct {
	clock   ovm.Clock
	log     *slog.Logger
	client  *http.Client
	issuers map[string]*issuer
}

// issuer is one configured issuer and, once discovered, its go-oidc
// verifier.
type issuer struct {
	cfg      IssuerConfig
	verifier atomic.Pointer[oidc.IDTokenVerifier]
	// discovering admits one discovery at a time; it guards failedAt.
	discovering chan struct{}
	failedAt    time.Time
}

// New returns a verifier of cfg's issuers, and logs cfg's Warnings.
// Nothing is fetched until the first token of an issuer arrives, so an
// issuer that is down does not stop OVM from starting.
func New(cfg Config, clock ovm.Clock, log *slog.Logger) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings() {
		log.Warn("configuration warning", logConfigKey, w.Field, logReason, w.Message)
	}
	v := &Verifier{clock: clock, log: log, client: &http.Client{Timeout: FetchTimeout}, issuers: map[string]*issuer{}}
	for _, ic := range cfg.OIDC {
		v.issuers[ic.Issuer] = &issuer{cfg: ic, discovering: make(chan struct{}, 1)}
	}
	return v, nil
}

// VerifyToken checks raw, an ID token, and returns its owner, its role and
// the last instant it is valid (exp plus Leeway). Errors are *ovm.Error
// with a message safe to show: unauthorized for a token refused,
// unavailable (with a RetryAfter) when its issuer cannot be reached. The
// token never reaches a message or a log line.
func (v *Verifier) VerifyToken(ctx context.Context, raw string) (owner string, role ovm.Role, until time.Time, err error) {
	t, err := v.Verify(ctx, raw)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return t.Owner, t.Role, t.Until, nil
}

// Verify is VerifyToken with the token's teams (IssuerConfig.GroupsClaim).
func (v *Verifier) Verify(ctx context.Context, raw string) (*ovm.TokenIdentity, error) {
	iss, payload, err := v.issuerOf(raw)
	if err != nil {
		return nil, err
	}
	verifier, err := v.discover(ctx, iss)
	if err != nil {
		return nil, err
	}
	var ks keySetResult
	tok, err := verifier.Verify(context.WithValue(ctx, keySetResultKey{}, &ks), raw)
	if err != nil {
		return nil, v.explain(iss, payload, &ks, err)
	}
	owner, role, err := v.check(iss, tok)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	_ = tok.Claims(&claims) // check read them
	v.log.Debug("oidc token accepted", logIssuer, iss.cfg.Issuer, logOwner, owner)
	return &ovm.TokenIdentity{Owner: owner, Role: role, Until: tok.Expiry.Add(Leeway), Teams: iss.cfg.teams(claims)}, nil
}

// refuse logs why a token was refused (at Debug: a client's mistake) and
// returns the unauthorized error that says it.
func (v *Verifier) refuse(issuer, format string, args ...any) error {
	err := ovm.Errorf(ovm.EUnauthorized, format, args...)
	v.log.Debug("oidc token refused", logIssuer, issuer, logReason, err.Message)
	return err
}

// issuerOf reads the token's algorithm and iss, unverified, only to pick
// the issuer whose verifier checks it. It returns the issuer and the
// unverified payload.
func (v *Verifier) issuerOf(raw string) (*issuer, []byte, error) {
	if len(raw) > MaxTokenBytes {
		return nil, nil, v.refuse("", "bearer token is longer than %d KiB", MaxTokenBytes>>10)
	}
	jws, err := jose.ParseSignedCompact(raw, append(joseAlgs(algorithms), refusedAlgs...))
	if err != nil {
		return nil, nil, v.refuse("", "bearer token is neither an ovm api key nor a signed JWT (an OIDC ID token)")
	}
	if alg := jws.Signatures[0].Header.Algorithm; !slices.Contains(algorithms, alg) {
		return nil, nil, v.refuse("", "token algorithm %q is not accepted: only asymmetric signatures (%s)", alg, strings.Join(algorithms, ", "))
	}
	payload := jws.UnsafePayloadWithoutVerification()
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, nil, v.refuse("", "token payload is not a JSON object of claims")
	}
	iss, ok := v.issuers[claims.Issuer]
	if !ok {
		return nil, nil, v.refuse(quote(claims.Issuer), "token issuer %s is not accepted here (not in auth.oidc)", quote(claims.Issuer))
	}
	return iss, payload, nil
}

// discover returns iss's verifier, fetching its discovery document on the
// first call and again after a failure once RetryDiscovery has passed.
func (v *Verifier) discover(ctx context.Context, iss *issuer) (*oidc.IDTokenVerifier, error) {
	if ver := iss.verifier.Load(); ver != nil {
		return ver, nil
	}
	select {
	case iss.discovering <- struct{}{}:
		defer func() { <-iss.discovering }()
	case <-ctx.Done():
		return nil, unreachable(iss, FetchTimeout)
	}
	if ver := iss.verifier.Load(); ver != nil {
		return ver, nil // discovered while this call waited
	}
	now := v.clock.Now()
	if next := iss.failedAt.Add(RetryDiscovery); !iss.failedAt.IsZero() && now.Before(next) {
		return nil, unreachable(iss, next.Sub(now))
	}
	// The caller hanging up does not cut a discovery other tokens need.
	dctx, cancel := context.WithTimeout(oidc.ClientContext(context.WithoutCancel(ctx), v.client), FetchTimeout)
	defer cancel()
	p, err := oidc.NewProvider(dctx, iss.cfg.Issuer)
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err == nil {
		if err = p.Claims(&meta); err == nil && !secureURL(meta.JWKS) {
			err = fmt.Errorf("jwks_uri %q is not https (http only on loopback)", meta.JWKS)
		}
	}
	if err != nil {
		iss.failedAt = now
		v.log.Warn("oidc discovery failed; tokens of this issuer are refused until it answers",
			logIssuer, iss.cfg.Issuer, ovm.LogError, err, "retry_after", RetryDiscovery)
		return nil, unreachable(iss, RetryDiscovery)
	}
	keys := newKeySet(meta.JWKS, v.client, v.clock)
	ver := oidc.NewVerifier(iss.cfg.Issuer, keys, &oidc.Config{
		ClientID:             iss.cfg.Audience,
		SupportedSigningAlgs: algorithms,
		// go-oidc refuses a token whose exp is before Now: Leeway earlier
		// accepts it up to Leeway after its exp.
		Now: func() time.Time { return v.clock.Now().Add(-Leeway) },
	})
	iss.verifier.Store(ver)
	iss.failedAt = time.Time{}
	v.log.Info("oidc issuer discovered", logIssuer, iss.cfg.Issuer)
	return ver, nil
}

func unreachable(iss *issuer, retry time.Duration) error {
	err := ovm.Errorf(ovm.EUnavailable, "cannot verify the token now: issuer %s did not answer its discovery; retry later", quote(iss.cfg.Issuer))
	err.RetryAfter = retry
	return err
}

// explain turns go-oidc's refusal into a message for the client. go-oidc
// decides; the claims are read here, from the unverified payload, only to
// say why, in go-oidc's order: signature, audience, expiry, not-before.
func (v *Verifier) explain(iss *issuer, payload []byte, ks *keySetResult, verr error) error {
	name := iss.cfg.Issuer
	if ks.err != nil {
		var fe *keyFetchError
		if errors.As(ks.err, &fe) {
			if fe.fresh { // once per fetch, not once per token
				v.log.Warn("oidc key set fetch failed", logIssuer, name, ovm.LogError, fe.err, "retry_after", fe.retry)
			}
			err := ovm.Errorf(ovm.EUnavailable, "cannot verify the token now: the keys of issuer %s cannot be fetched; retry later", quote(name))
			err.RetryAfter = fe.retry
			return err
		}
		return v.refuse(name, "token signature does not verify with the published keys of issuer %s", quote(name))
	}
	var expired *oidc.TokenExpiredError
	if errors.As(verr, &expired) {
		return v.refuse(name, "token expired at %s", expired.Expiry.UTC().Format(time.RFC3339))
	}
	if !ks.verified {
		return v.refuse(name, "token is not a valid signed JWT")
	}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims) // issuerOf decoded it: a JSON object
	// go-oidc refuses a time claim that is not a number before it looks at
	// the audience.
	for _, c := range []string{"exp", "nbf", "iat"} {
		if x, ok := claims[c]; ok {
			if _, err := numericDate(x); err != nil {
				return v.refuse(name, "token claim %q %v", c, err)
			}
		}
	}
	var aud struct {
		Audience audience `json:"aud"`
	}
	_ = json.Unmarshal(payload, &aud)
	if !slices.Contains(aud.Audience, iss.cfg.Audience) {
		return v.refuse(name, "token audience is not %s (ask the issuer for a token with that audience)", quote(iss.cfg.Audience))
	}
	if x, ok := claims["nbf"]; ok {
		nbf, _ := numericDate(x)
		return v.refuse(name, "token is not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	err := ovm.Errorf(ovm.EUnauthorized, "token refused by the checks of issuer %s", quote(name))
	v.log.Debug("oidc token refused", logIssuer, name, logReason, err.Message, ovm.LogError, verr)
	return err
}

// check applies what go-oidc does not: not-before with Leeway, the
// required claims and the owner claim. It returns the owner and the role.
func (v *Verifier) check(iss *issuer, tok *oidc.IDToken) (string, ovm.Role, error) {
	name := iss.cfg.Issuer
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return "", "", v.refuse(name, "token payload is not a JSON object of claims")
	}
	if x, ok := claims["nbf"]; ok {
		nbf, err := numericDate(x)
		if err != nil {
			return "", "", v.refuse(name, "token claim \"nbf\" %v", err)
		}
		if nbf.After(v.clock.Now().Add(Leeway)) {
			return "", "", v.refuse(name, "token is not valid before %s", nbf.UTC().Format(time.RFC3339))
		}
	}
	for _, c := range slices.Sorted(maps.Keys(iss.cfg.Require)) {
		got, ok := claims[c].(string)
		if !ok {
			return "", "", v.refuse(name, "token has no claim %q (a string), which this server requires", c)
		}
		if got != iss.cfg.Require[c] {
			return "", "", v.refuse(name, "token claim %q is %s, not the value this server requires", c, quote(got))
		}
	}
	value, _ := claims[iss.cfg.OwnerClaim].(string)
	if value == "" {
		return "", "", v.refuse(name, "token has no owner claim %q (a non-empty string)", iss.cfg.OwnerClaim)
	}
	owner := iss.cfg.OwnerPrefix + value
	switch {
	case len(owner) > maxOwner || strings.IndexFunc(owner, unicode.IsControl) >= 0:
		return "", "", v.refuse(name, "token owner claim %q must be at most %d characters, without control characters", iss.cfg.OwnerClaim, maxOwner)
	case !strings.ContainsAny(owner, "/:"):
		// API key names hold neither '/' nor ':' (ovm.NewAPIKey): an owner
		// without them could be a key's name and share its leases.
		return "", "", v.refuse(name, "token owner %s could be an api key's name: an owner must contain '/' or ':' (the server sets owner_prefix for this claim)", quote(owner))
	}
	return owner, iss.cfg.role(claims), nil
}

// audience is the aud claim: one string or a list.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

func joseAlgs(algs []string) []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}

// numericDate reads a time claim (exp, nbf, iat): a JSON number of
// seconds since 1970, or a string holding exactly such a number, which
// go-oidc accepts too, so that both read the same instant. Anything else
// is an error that says what the claim is instead.
func numericDate(x any) (time.Time, error) {
	const want = "a number of seconds since 1970"
	var sec float64
	switch x := x.(type) {
	case float64:
		sec = x
	case string:
		// A JSON number literal, nothing around it (go-oidc reads the
		// string as a json.Number).
		if x == "" || strings.TrimSpace(x) != x || json.Unmarshal([]byte(x), &sec) != nil {
			return time.Time{}, fmt.Errorf("is %s, not %s", quote(x), want)
		}
	case nil:
		return time.Time{}, fmt.Errorf("is null, not %s", want)
	default:
		return time.Time{}, fmt.Errorf("is a %s, not %s", jsonKind(x), want)
	}
	if math.IsNaN(sec) || math.Abs(sec) > 1<<53 {
		return time.Time{}, fmt.Errorf("is out of range, not %s", want)
	}
	return time.Unix(int64(sec), 0), nil
}

// jsonKind names the JSON type of a decoded value.
func jsonKind(x any) string {
	switch x.(type) {
	case bool:
		return "boolean"
	case []any:
		return "list"
	case map[string]any:
		return "JSON object"
	}
	return "value"
}

// quote quotes a value taken from a token for a message, cut to 100 bytes.
func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return fmt.Sprintf("%q", s)
}
