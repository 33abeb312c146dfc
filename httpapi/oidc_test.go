package httpapi_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/identity"
	"github.com/ovmdev/ovm/identity/identitytest"
)

const oidcAudience = "https://ovm.example"

// oidcFixture is the API with two OIDC issuers: users (role user, owner
// from repository, repository_owner my-org required) and admins (role
// admin, owner from sub).
type oidcFixture struct {
	*fixture
	users, admins *identitytest.Issuer
}

func newOIDCFixture(t *testing.T, cfg httpapi.Config, mods ...func(*ovm.Pool)) *oidcFixture {
	o := &oidcFixture{users: identitytest.New(t), admins: identitytest.New(t)}
	// The fixture's clock is made with it: read it through o.
	clock := ovm.ClockFunc(func() time.Time { return o.clock.Now() })
	v, err := identity.New(identity.Config{OIDC: []identity.IssuerConfig{
		{Issuer: o.users.URL, Audience: oidcAudience, OwnerClaim: "repository", Require: map[string]string{"repository_owner": "my-org"}},
		{Issuer: o.admins.URL, Audience: oidcAudience, OwnerClaim: "sub", Role: ovm.RoleAdmin},
	}}, clock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tokens = v
	o.fixture = newFixtureVend(t, cfg, engine.VendConfig{PollInterval: 10 * time.Millisecond}, mods...)
	return o
}

// token is a users' token, valid for 5 minutes from now, edited by edit.
func (o *oidcFixture) token(edit func(map[string]any)) string {
	c := o.users.Claims(oidcAudience, o.clock.Now())
	if edit != nil {
		edit(c)
	}
	return o.users.Sign(nil, c)
}

func TestAnOIDCTokenLeasesInTheNameOfItsOwnerClaim(t *testing.T) {
	o := newOIDCFixture(t, httpapi.Config{})
	o.fill()
	token := o.token(nil)
	r := o.do("POST", "/v1/leases", token, `{}`)
	var l client.Lease
	r.json(t, &l)
	if r.status != 201 || l.Owner != "my-org/app" {
		t.Fatalf("POST /v1/leases with a token: %d %s, want 201 owned by my-org/app", r.status, r.body)
	}
	var list struct{ Items []client.Lease }
	o.do("GET", "/v1/leases", token, "").json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != l.ID {
		t.Fatalf("the token's own leases: %+v", list.Items)
	}
	o.do("GET", "/v1/leases", o.user, "").json(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("alice, an API key, sees the token's lease: %+v", list.Items)
	}
	if r := o.do("DELETE", "/v1/leases/"+l.ID, token, ""); r.status != 200 {
		t.Fatalf("the owner ends its lease: %d %s", r.status, r.body)
	}
	if strings.Contains(o.logBuf.String(), token[strings.LastIndex(token, ".")+1:]) {
		t.Fatal("the token reached the log")
	}
}

func TestBadOIDCTokensAre401WithTheirReason(t *testing.T) {
	o := newOIDCFixture(t, httpapi.Config{})
	set := func(claim string, v any) string { return o.token(func(c map[string]any) { c[claim] = v }) }
	drop := func(claim string) string { return o.token(func(c map[string]any) { delete(c, claim) }) }
	stranger := identitytest.New(t)
	cases := map[string]struct{ token, want string }{
		"alg none":                       {o.users.SignNone(o.users.Claims(oidcAudience, t0)), `token algorithm "none" is not accepted`},
		"HS256 with the public key":      {o.users.SignHMACWithPublicKey(o.users.Claims(oidcAudience, t0)), `token algorithm "HS256" is not accepted`},
		"expired":                        {set("exp", t0.Add(-time.Hour).Unix()), "token expired at"},
		"not yet valid":                  {set("nbf", t0.Add(time.Hour).Unix()), "token is not valid before"},
		"another audience":               {set("aud", "https://elsewhere.example"), "token audience is not"},
		"an unknown issuer":              {stranger.Sign(nil, stranger.Claims(oidcAudience, t0)), "token issuer " + `"` + stranger.URL + `"` + " is not accepted"},
		"a bad signature":                {o.users.Sign(o.users.NewKey("k1", jose.RS256), o.users.Claims(oidcAudience, t0)), "token signature does not verify"},
		"no required claim":              {drop("repository_owner"), `token has no claim "repository_owner"`},
		"a required claim's wrong value": {set("repository_owner", "evil-org"), `token claim "repository_owner" is "evil-org"`},
		"no owner claim":                 {drop("repository"), `token has no owner claim "repository"`},
	}
	seen := map[string]string{}
	for name, c := range cases {
		r := o.do("POST", "/v1/leases", c.token, `{}`)
		msg := r.wantError(t, 401, "unauthorized")
		if !strings.Contains(msg, c.want) || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: message %q, want %q (and WWW-Authenticate)", name, msg, c.want)
		}
		if prev, ok := seen[msg]; ok {
			t.Errorf("%s and %s answer the same message %q", name, prev, msg)
		}
		seen[msg] = name
		if sig := c.token[strings.LastIndex(c.token, ".")+1:]; len(sig) > 8 && strings.Contains(string(r.body)+o.logBuf.String(), sig) {
			t.Errorf("%s: the token reached the answer or the log", name)
		}
	}
}

func TestAUserTokenCannotReachAdminRoutes(t *testing.T) {
	o := newOIDCFixture(t, httpapi.Config{})
	token := o.token(nil)
	for _, route := range [][2]string{{"GET", "/v1/accounts"}, {"GET", "/v1/keys"}} {
		if msg := o.do(route[0], route[1], token, "").wantError(t, 403, "forbidden"); !strings.Contains(msg, "admin") {
			t.Errorf("%s %s: %q", route[0], route[1], msg)
		}
	}
	o.do("POST", "/v1/keys", token, `{"name":"mine","role":"admin"}`).wantError(t, 403, "forbidden")
	admin := o.admins.Sign(nil, o.admins.Claims(oidcAudience, t0))
	if r := o.do("GET", "/v1/accounts", admin, ""); r.status != 200 {
		t.Fatalf("a token of the admins' issuer: %d %s", r.status, r.body)
	}
}

func TestAnAPIKeyIsStillAnAPIKeyWithTokensOn(t *testing.T) {
	o := newOIDCFixture(t, httpapi.Config{})
	if r := o.do("GET", "/v1/pools", o.user, ""); r.status != 200 {
		t.Fatalf("alice's key: %d %s", r.status, r.body)
	}
	k, secret, _ := ovm.NewAPIKey("bob", ovm.RoleUser, t0)
	if msg := o.do("GET", "/v1/pools", secret, "").wantError(t, 401, "unauthorized"); msg != "invalid or revoked api key" {
		t.Fatalf("an unknown key (%s) is answered %q", k.Name, msg)
	}
}

func TestAnUnreachableIssuerAnswers503WithRetryAfter(t *testing.T) {
	o := newOIDCFixture(t, httpapi.Config{})
	o.users.SetDown(true)
	r := o.do("POST", "/v1/leases", o.token(nil), `{}`)
	if msg := r.wantError(t, 503, "unavailable"); !strings.Contains(msg, "did not answer its discovery") || r.header.Get("Retry-After") != "30" {
		t.Fatalf("message %q, Retry-After %q", msg, r.header.Get("Retry-After"))
	}
}

func TestATokenThatExpiresWhileItWaitsGetsNoAccount(t *testing.T) {
	o := newOIDCFixture(t, httpapi.Config{}, func(p *ovm.Pool) { p.Stock.Target = 0 })
	token := o.token(nil)
	done := make(chan resp)
	go func() { done <- o.do("POST", "/v1/leases", token, `{"wait":"1m"}`) }()
	time.Sleep(50 * time.Millisecond) // the token's request is waiting
	o.clock.Advance(5*time.Minute + identity.Leeway)
	select {
	case r := <-done:
		if msg := r.wantError(t, 401, "unauthorized"); msg != "the token expired while the request waited" {
			t.Fatalf("message %q", msg)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the expired token's request still waits")
	}
}
