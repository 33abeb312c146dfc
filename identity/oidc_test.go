package identity_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/identity"
	"github.com/ovmdev/ovm/identity/identitytest"
	"github.com/ovmdev/ovm/internal/clocktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

const audience = "https://ovm.example"

type fixture struct {
	t      *testing.T
	issuer *identitytest.Issuer
	clock  *clocktest.Clock
	v      *identity.Verifier
	log    *syncBuffer
}

// newFixture is a verifier of one test issuer that requires
// repository_owner my-org and takes the owner from repository.
func newFixture(t *testing.T, mods ...func(*identity.IssuerConfig)) *fixture {
	f := &fixture{t: t, issuer: identitytest.New(t), clock: clocktest.New(t0), log: &syncBuffer{}}
	ic := identity.IssuerConfig{Issuer: f.issuer.URL, Audience: audience, OwnerClaim: "repository",
		Require: map[string]string{"repository_owner": "my-org"}}
	for _, m := range mods {
		m(&ic)
	}
	var err error
	f.v, err = identity.New(identity.Config{OIDC: []identity.IssuerConfig{ic}}, f.clock,
		slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// claims are a good token's claims; edit changes them.
func (f *fixture) claims(edit func(map[string]any)) map[string]any {
	c := f.issuer.Claims(audience, f.clock.Now())
	if edit != nil {
		edit(c)
	}
	return c
}

// refused checks that token is refused with code and a message holding
// want, and that the token is in neither the message nor the log.
func (f *fixture) refused(token string, code ovm.ErrorCode, want string) *ovm.Error {
	f.t.Helper()
	owner, _, _, err := f.v.VerifyToken(context.Background(), token)
	var e *ovm.Error
	if !errors.As(err, &e) || e.Code != code || !strings.Contains(e.Message, want) {
		f.t.Fatalf("token gave owner %q, error %v; want %s containing %q", owner, err, code, want)
	}
	if sig := token[strings.LastIndex(token, ".")+1:]; strings.Contains(e.Message, token) ||
		len(sig) > 8 && (strings.Contains(e.Message, sig) || strings.Contains(f.log.String(), sig)) || strings.Contains(f.log.String(), token) {
		f.t.Fatalf("the token reached the message %q or the log", e.Message)
	}
	return e
}

func TestAGoodTokenGivesTheOwnerClaimAndTheRole(t *testing.T) {
	f := newFixture(t)
	owner, role, until, err := f.v.VerifyToken(context.Background(), f.issuer.Sign(nil, f.claims(nil)))
	if err != nil || owner != "my-org/app" || role != ovm.RoleUser || !until.Equal(t0.Add(5*time.Minute+identity.Leeway)) {
		t.Fatalf("got %q %q %s %v, want my-org/app, user, until exp plus the leeway", owner, role, until, err)
	}
	admin := newFixture(t, func(ic *identity.IssuerConfig) { ic.Role = ovm.RoleAdmin })
	if _, role, _, err := admin.v.VerifyToken(context.Background(), admin.issuer.Sign(nil, admin.claims(nil))); err != nil || role != ovm.RoleAdmin {
		t.Fatalf("role admin: got %q %v", role, err)
	}
}

func TestTokensOfOtherAsymmetricAlgorithmsAndAudienceListsAreAccepted(t *testing.T) {
	f := newFixture(t)
	ec := f.issuer.NewKey("ec1", jose.ES256)
	f.issuer.Publish(f.issuer.Key, ec)
	token := f.issuer.Sign(ec, f.claims(func(c map[string]any) { c["aud"] = []string{"other", audience} }))
	if owner, _, _, err := f.v.VerifyToken(context.Background(), token); err != nil || owner != "my-org/app" {
		t.Fatalf("ES256 with an audience list: %q %v", owner, err)
	}
}

func TestTheClockSkewIsBounded(t *testing.T) {
	f := newFixture(t)
	for name, edit := range map[string]func(map[string]any){
		"expired 30s ago":     func(c map[string]any) { c["exp"] = t0.Add(-30 * time.Second).Unix() },
		"valid in 30s":        func(c map[string]any) { c["nbf"] = t0.Add(30 * time.Second).Unix() },
		"issued in 30s (iat)": func(c map[string]any) { c["iat"] = t0.Add(30 * time.Second).Unix() },
	} {
		if _, _, _, err := f.v.VerifyToken(context.Background(), f.issuer.Sign(nil, f.claims(edit))); err != nil {
			t.Errorf("%s, within the leeway: %v", name, err)
		}
	}
	// Beyond the leeway, but within go-oidc's own 5 minutes on nbf.
	f.refused(f.issuer.Sign(nil, f.claims(func(c map[string]any) { c["nbf"] = t0.Add(2 * time.Minute).Unix() })),
		ovm.EUnauthorized, "token is not valid before 2026-11-24T09:02:00Z")
}

// A time claim given as a string is read as go-oidc reads it, a number in
// a string, and OVM's own skew then applies to it too; any other nbf is
// refused saying what it is.
func TestANotBeforeThatIsNotANumberIsReadOrRefusedWithItsReason(t *testing.T) {
	f := newFixture(t)
	nbf := func(v any) string {
		return f.issuer.Sign(nil, f.claims(func(c map[string]any) { c["nbf"] = v }))
	}
	unix := func(d time.Duration) string { return fmt.Sprint(t0.Add(d).Unix()) }
	if _, _, _, err := f.v.VerifyToken(context.Background(), nbf(unix(30*time.Second))); err != nil {
		t.Fatalf("a numeric string nbf 30s ahead, within the leeway: %v", err)
	}
	for _, c := range []struct {
		name string
		nbf  any
		want string
	}{
		{"a numeric string 2 minutes ahead (beyond OVM's minute, within go-oidc's five)", unix(2 * time.Minute), "token is not valid before 2026-11-24T09:02:00Z"},
		{"a numeric string 10 minutes ahead", unix(10 * time.Minute), "token is not valid before 2026-11-24T09:10:00Z"},
		{"a date as text", "2026-11-24T09:00:00Z", `token claim "nbf" is "2026-11-24T09:00:00Z", not a number of seconds since 1970`},
		{"a word", "soon", `token claim "nbf" is "soon", not a number of seconds since 1970`},
		{"a number with spaces", " " + unix(0), `token claim "nbf" is " 1795`},
		{"a boolean", true, `token claim "nbf" is a boolean, not a number of seconds since 1970`},
		{"null", nil, `token claim "nbf" is null, not a number of seconds since 1970`},
		{"a list", []any{1}, `token claim "nbf" is a list`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.t = t
			e := f.refused(nbf(c.nbf), ovm.EUnauthorized, c.want)
			if strings.Contains(e.Message, "1970-01-01") {
				t.Fatalf("message %q", e.Message)
			}
		})
	}
}

func TestBadTokensAreRefusedEachWithItsReason(t *testing.T) {
	f := newFixture(t)
	other := f.issuer.NewKey("k1", jose.RS256) // the issuer's key id, not its key
	set := func(claim string, v any) string {
		return f.issuer.Sign(nil, f.claims(func(c map[string]any) { c[claim] = v }))
	}
	drop := func(claim string) string {
		return f.issuer.Sign(nil, f.claims(func(c map[string]any) { delete(c, claim) }))
	}
	cases := []struct {
		name, token, want string
		again             bool // the same kind as the case before: the same message
	}{
		{"an unsigned token (alg none)", f.issuer.SignNone(f.claims(nil)), `token algorithm "none" is not accepted`, false},
		{"an HS256 token signed with the public key", f.issuer.SignHMACWithPublicKey(f.claims(nil)), `token algorithm "HS256" is not accepted`, false},
		{"an expired token", set("exp", t0.Add(-2*time.Minute).Unix()), "token expired at 2026-11-24T08:58:00Z", false},
		{"a token without exp", drop("exp"), "token expired at", true},
		{"a token not yet valid", set("nbf", t0.Add(10*time.Minute).Unix()), "token is not valid before 2026-11-24T09:10:00Z", false},
		{"a token for another audience", set("aud", "https://other.example"), `token audience is not "https://ovm.example"`, false},
		{"a token of an unknown issuer", set("iss", "https://evil.example"), `token issuer "https://evil.example" is not accepted here`, false},
		{"a token signed by another key", f.issuer.Sign(other, f.claims(nil)), "token signature does not verify with the published keys", false},
		{"a token whose claims were changed after signing", tamper(f.issuer.Sign(nil, f.claims(nil)), set("repository", "evil/repo")), "token signature does not verify", true},
		{"a token without a required claim", drop("repository_owner"), `token has no claim "repository_owner" (a string), which this server requires`, false},
		{"a required claim that is not a string", set("repository_owner", 42), `token has no claim "repository_owner" (a string)`, true},
		{"a required claim with another value", set("repository_owner", "evil-org"), `token claim "repository_owner" is "evil-org", not the value this server requires`, false},
		{"a token without the owner claim", drop("repository"), `token has no owner claim "repository" (a non-empty string)`, false},
		{"an empty owner claim", set("repository", ""), `token has no owner claim "repository"`, true},
		{"not a JWT", "not-a-token", "bearer token is neither an ovm api key nor a signed JWT", false},
		{"a token too long", set("pad", strings.Repeat("x", identity.MaxTokenBytes)), "bearer token is longer than 16 KiB", false},
	}
	seen := map[string]string{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f.t = t
			e := f.refused(c.token, ovm.EUnauthorized, c.want)
			if prev, ok := seen[e.Message]; ok && !c.again {
				t.Errorf("message %q is also the one of %q", e.Message, prev)
			}
			seen[e.Message] = c.name
		})
	}
}

// tamper puts other's payload under good's header and signature.
func tamper(good, other string) string {
	g, o := strings.Split(good, "."), strings.Split(other, ".")
	return g[0] + "." + o[1] + "." + g[2]
}

func TestAnOwnerThatCouldBeAnAPIKeyNameIsRefused(t *testing.T) {
	f := newFixture(t, func(ic *identity.IssuerConfig) { ic.OwnerClaim = "repository_owner" })
	f.refused(f.issuer.Sign(nil, f.claims(nil)), ovm.EUnauthorized, `token owner "my-org" could be an api key's name`)
	if _, _, err := ovm.NewAPIKey("my-org", ovm.RoleUser, t0); err != nil {
		t.Fatal("my-org is a valid key name, so the owner must be refused")
	}
	for _, name := range []string{"my-org/app", "github:my-org"} {
		if _, _, err := ovm.NewAPIKey(name, ovm.RoleUser, t0); err == nil {
			t.Fatalf("key name %q accepted: a token's owner could take a key's leases", name)
		}
	}
	prefixed := newFixture(t, func(ic *identity.IssuerConfig) { ic.OwnerClaim, ic.OwnerPrefix = "repository_owner", "github:" })
	if owner, _, _, err := prefixed.v.VerifyToken(context.Background(), prefixed.issuer.Sign(nil, prefixed.claims(nil))); err != nil || owner != "github:my-org" {
		t.Fatalf("owner_prefix: %q %v", owner, err)
	}
}

func TestRepositoryOwnerWithoutAPrefixIsWarnedAtStart(t *testing.T) {
	f := newFixture(t, func(ic *identity.IssuerConfig) { ic.OwnerClaim = "repository_owner" })
	log := f.log.String()
	if !strings.Contains(log, "level=WARN") || !strings.Contains(log, "config_key=auth.oidc[0].owner_claim") ||
		!strings.Contains(log, "repository_owner without owner_prefix") || !strings.Contains(log, "set owner_prefix") {
		t.Fatalf("no warning naming the key and why:\n%s", log)
	}
	for name, mod := range map[string]func(*identity.IssuerConfig){
		"with a prefix":    func(ic *identity.IssuerConfig) { ic.OwnerClaim, ic.OwnerPrefix = "repository_owner", "github:" },
		"another claim":    func(ic *identity.IssuerConfig) { ic.OwnerClaim = "repository" },
		"the default test": func(*identity.IssuerConfig) {},
	} {
		if log := newFixture(t, mod).log.String(); strings.Contains(log, "WARN") {
			t.Errorf("%s: a warning:\n%s", name, log)
		}
	}
}

func TestATokenOfARotatedKeyIsAcceptedOnceTheKeySetHasIt(t *testing.T) {
	f := newFixture(t)
	if _, _, _, err := f.v.VerifyToken(context.Background(), f.issuer.Sign(nil, f.claims(nil))); err != nil {
		t.Fatal(err)
	}
	k2 := f.issuer.NewKey("k2", jose.RS256)
	f.issuer.Publish(f.issuer.Key, k2)
	// Within RefetchKeys of the first fetch, a new key id is refused
	// without a fetch; after it, the first token of the new key fetches the
	// set once, and is accepted.
	f.clock.Advance(identity.RefetchKeys)
	f.issuer.Publish(k2) // k1 retired
	fetches := f.issuer.KeyFetches.Load()
	token := f.issuer.Sign(k2, f.claims(nil))
	if owner, _, _, err := f.v.VerifyToken(context.Background(), token); err != nil || owner != "my-org/app" {
		t.Fatalf("after rotation: %q %v", owner, err)
	}
	if got := f.issuer.KeyFetches.Load(); got != fetches+1 {
		t.Fatalf("the new key id fetched the key set %d times, want once", got-fetches)
	}
	if _, _, _, err := f.v.VerifyToken(context.Background(), f.issuer.Sign(k2, f.claims(nil))); err != nil || f.issuer.KeyFetches.Load() != fetches+1 {
		t.Fatalf("a known key id fetched the key set again (%v)", err)
	}
}

// Forged tokens with made-up key ids (or a known key id and a bad
// signature) fetch the issuer's key set at most once per RefetchKeys, and
// are refused without a fetch in between.
func TestUnknownKeyIDsFetchTheKeySetAtMostOncePerInterval(t *testing.T) {
	f := newFixture(t)
	if _, _, _, err := f.v.VerifyToken(context.Background(), f.issuer.Sign(nil, f.claims(nil))); err != nil {
		t.Fatal(err)
	}
	if n := f.issuer.KeyFetches.Load(); n != 1 {
		t.Fatalf("%d key set fetches for the first token, want 1", n)
	}
	forger := f.issuer.NewKey("", jose.ES256)
	forged := func(i int) string {
		k := *forger
		k.ID = fmt.Sprintf("forged-%d", i)
		if i%10 == 0 {
			k.ID = f.issuer.Key.ID // a known key id, the wrong key
		}
		return f.issuer.Sign(&k, f.claims(nil))
	}
	for i := range 200 {
		f.refused(forged(i), ovm.EUnauthorized, "token signature does not verify")
	}
	if n := f.issuer.KeyFetches.Load(); n != 1 {
		t.Fatalf("200 forged tokens fetched the key set %d times within %s, want none", n-1, identity.RefetchKeys)
	}
	f.clock.Advance(identity.RefetchKeys - time.Second)
	f.refused(forged(1), ovm.EUnauthorized, "token signature does not verify")
	if n := f.issuer.KeyFetches.Load(); n != 1 {
		t.Fatalf("a fetch %s after the last one", identity.RefetchKeys-time.Second)
	}
	// Past the interval: forged tokens at once make one fetch in all.
	f.clock.Advance(time.Second)
	var wg sync.WaitGroup
	for i := range 20 {
		tok := forged(i + 1000)
		wg.Go(func() {
			if _, _, _, err := f.v.VerifyToken(context.Background(), tok); err == nil {
				t.Error("a forged token was accepted")
			}
		})
	}
	wg.Wait()
	if n := f.issuer.KeyFetches.Load(); n != 2 {
		t.Fatalf("%d key set fetches after the interval, want 2 in all", n)
	}
	// Good tokens are accepted all along, from the keys held.
	if _, _, _, err := f.v.VerifyToken(context.Background(), f.issuer.Sign(nil, f.claims(nil))); err != nil || f.issuer.KeyFetches.Load() != 2 {
		t.Fatalf("a good token after the flood: %v", err)
	}
}

func TestDiscoveryWaitsForTheFirstTokenAndIsRetriedAfterAFailure(t *testing.T) {
	f := newFixture(t)
	f.issuer.SetDown(true)
	if n := f.issuer.Discoveries.Load(); n != 0 {
		t.Fatalf("%d discoveries before any token", n)
	}
	token := f.issuer.Sign(nil, f.claims(func(c map[string]any) { c["exp"] = t0.Add(time.Hour).Unix() }))
	e := f.refused(token, ovm.EUnavailable, "did not answer its discovery; retry later")
	if e.RetryAfter != identity.RetryDiscovery {
		t.Fatalf("RetryAfter %s", e.RetryAfter)
	}
	f.issuer.SetDown(false)
	f.clock.Advance(identity.RetryDiscovery / 2)
	e = f.refused(token, ovm.EUnavailable, "did not answer its discovery")
	if e.RetryAfter != identity.RetryDiscovery/2 || f.issuer.Discoveries.Load() != 1 {
		t.Fatalf("retried before its time: RetryAfter %s, %d discoveries", e.RetryAfter, f.issuer.Discoveries.Load())
	}
	f.clock.Advance(identity.RetryDiscovery / 2)
	if _, _, _, err := f.v.VerifyToken(context.Background(), token); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
	if !strings.Contains(f.log.String(), "oidc discovery failed") {
		t.Error("the failed discovery was not logged")
	}
}

func TestAKeySetThatCannotBeFetchedIsUnavailableNotABadSignature(t *testing.T) {
	f := newFixture(t)
	if _, _, _, err := f.v.VerifyToken(context.Background(), f.issuer.Sign(nil, f.claims(nil))); err != nil {
		t.Fatal(err)
	}
	f.issuer.SetDown(true)
	f.clock.Advance(identity.RefetchKeys) // a new key id may fetch the set again
	k2 := f.issuer.NewKey("k2", jose.RS256)
	e := f.refused(f.issuer.Sign(k2, f.claims(nil)), ovm.EUnavailable,
		"the keys of issuer "+`"`+f.issuer.URL+`"`+" cannot be fetched; retry later")
	if e.RetryAfter != identity.RefetchKeys || strings.Count(f.log.String(), "oidc key set fetch failed") != 1 {
		t.Fatalf("RetryAfter %s; log:\n%s", e.RetryAfter, f.log.String())
	}
	// Until the next fetch may happen, the same answer without a fetch, and
	// without a log line per token.
	fetches := f.issuer.KeyFetches.Load()
	f.clock.Advance(10 * time.Second)
	e = f.refused(f.issuer.Sign(k2, f.claims(nil)), ovm.EUnavailable, "cannot be fetched")
	if e.RetryAfter != identity.RefetchKeys-10*time.Second || f.issuer.KeyFetches.Load() != fetches ||
		strings.Count(f.log.String(), "oidc key set fetch failed") != 1 {
		t.Fatalf("within the interval: RetryAfter %s, %d fetches", e.RetryAfter, f.issuer.KeyFetches.Load()-fetches)
	}
	// Cached keys still verify while the issuer is down.
	if _, _, _, err := f.v.VerifyToken(context.Background(), f.issuer.Sign(nil, f.claims(nil))); err != nil {
		t.Fatalf("with cached keys: %v", err)
	}
}

func TestConcurrentFirstTokensDiscoverOnce(t *testing.T) {
	f := newFixture(t)
	token := f.issuer.Sign(nil, f.claims(nil))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, _, _, err := f.v.VerifyToken(context.Background(), token); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.issuer.Discoveries.Load(); n != 1 {
		t.Fatalf("%d discoveries, want 1", n)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestARoleClaimMakesAdminsOfItsAdminValuesOnly(t *testing.T) {
	f := newFixture(t, func(ic *identity.IssuerConfig) { ic.RoleClaim, ic.AdminValues = "groups", []string{"ovm-admins"} })
	for _, c := range []struct {
		name   string
		groups any
		want   ovm.Role
	}{
		{"a list holding the admin value", []any{"dev", "ovm-admins"}, ovm.RoleAdmin},
		{"the admin value as a string", "ovm-admins", ovm.RoleAdmin},
		{"a list without it", []any{"dev", "ovm-admins-not"}, ovm.RoleUser},
		{"no such claim", nil, ovm.RoleUser},
		{"a claim of another type", 7, ovm.RoleUser},
	} {
		tok := f.issuer.Sign(nil, f.claims(func(m map[string]any) {
			if c.groups != nil {
				m["groups"] = c.groups
			}
		}))
		if _, role, _, err := f.v.VerifyToken(context.Background(), tok); err != nil || role != c.want {
			t.Errorf("%s: role %q, %v; want %q", c.name, role, err, c.want)
		}
	}
}
