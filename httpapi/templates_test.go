package httpapi_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/identity"
	"github.com/ovmdev/ovm/identity/identitytest"
)

func templatesFixture(t *testing.T) *fixture {
	small := ovm.Template{Name: "sandbox-small", Pool: "default", Description: "EU only, 1 hour",
		Lease:      ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, MinTTL: time.Minute, MaxPerOwner: 1},
		MaxPerTeam: 1, Allowed: []string{"team:platform", "key:ci-*"}}
	f := newFixtureEngine(t, httpapi.Config{}, engine.Config{Templates: []ovm.Template{small}})
	f.fill()
	return f
}

// keyWithTeams makes a user key of name with teams through the API.
func (f *fixture) keyWithTeams(name string, teams ...string) string {
	f.t.Helper()
	var k client.Key
	body := `{"name":"` + name + `","teams":["` + strings.Join(teams, `","`) + `"]}`
	r := f.do("POST", "/v1/keys", f.admin, body)
	if r.status != 201 {
		f.t.Fatalf("POST /v1/keys %s: %d %s", body, r.status, r.body)
	}
	r.json(f.t, &k)
	if strings.Join(k.Teams, ",") != strings.Join(teams, ",") {
		f.t.Fatalf("key teams %v, want %v", k.Teams, teams)
	}
	return k.Key
}

func templateNames(t *testing.T, r resp) []string {
	t.Helper()
	var page client.Page[client.Template]
	r.json(t, &page)
	var names []string
	for _, tp := range page.Items {
		names = append(names, tp.Name)
	}
	return names
}

func TestEachCallerSeesTheTemplatesItMayUse(t *testing.T) {
	f := templatesFixture(t)
	platform := f.keyWithTeams("pat", "platform")
	if got := templateNames(t, f.do("GET", "/v1/templates", platform, "")); strings.Join(got, ",") != "default,sandbox-small" {
		t.Fatalf("a platform member sees %v", got)
	}
	if got := templateNames(t, f.do("GET", "/v1/templates", f.user, "")); strings.Join(got, ",") != "default" {
		t.Fatalf("alice, in no team, sees %v", got)
	}
	f.do("GET", "/v1/templates/sandbox-small", f.user, "").wantError(t, 404, "not_found")
	var tp client.Template
	f.do("GET", "/v1/templates/sandbox-small", platform, "").json(t, &tp)
	if tp.MaxTTL != client.Duration(2*time.Hour) || tp.Pool != "default" || len(tp.GuardrailSummary) != 1 ||
		!strings.Contains(tp.GuardrailSummary[0], "No guardrails") || tp.Allowed != nil || tp.Implicit || tp.Description != "EU only, 1 hour" {
		t.Fatalf("the template as a member sees it: %+v", tp)
	}
	f.do("GET", "/v1/templates/sandbox-small", f.admin, "").json(t, &tp)
	if strings.Join(tp.Allowed, ",") != "team:platform,key:ci-*" {
		t.Fatalf("an admin sees allowed %v", tp.Allowed)
	}
}

func TestALeaseOfATemplateIsForItsTeamsAndKeepsItsTerms(t *testing.T) {
	f := templatesFixture(t)
	platform := f.keyWithTeams("pat", "platform")
	mate := f.keyWithTeams("sam", "platform")
	msg := f.do("POST", "/v1/leases", f.user, `{"template":"sandbox-small"}`).wantError(t, 403, "forbidden")
	if !strings.Contains(msg, `template "sandbox-small"`) {
		t.Fatalf("the refusal does not name the template: %s", msg)
	}
	l := f.leaseOf(platform, `{"template":"sandbox-small"}`)
	if l.Template != "sandbox-small" || l.Team != "platform" || l.Terms == nil || l.Terms.MaxTTL != client.Duration(2*time.Hour) ||
		l.Terms.MaxPerTeam != 1 || l.ExpiresAt.Sub(l.CreatedAt) != time.Hour {
		t.Fatalf("lease %+v terms %+v", l, l.Terms)
	}
	f.do("POST", "/v1/leases", mate, `{"template":"sandbox-small"}`).wantError(t, 429, "limit_exceeded")
	f.do("POST", "/v1/leases", platform, `{"template":"nope"}`).wantError(t, 404, "not_found")
	f.do("POST", "/v1/leases", platform, `{"template":"sandbox-small","pool":"other"}`).wantError(t, 400, "invalid")
	// GET /vend and a lease naming neither keep to the default pool's own
	// template, as before templates.
	var plain client.Lease
	f.do("POST", "/v1/leases", f.user, `{}`).json(t, &plain)
	if plain.Template != "default" || plain.Pool != "default" || plain.ExpiresAt.Sub(plain.CreatedAt) != time.Hour {
		t.Fatalf("a lease naming nothing: %+v", plain)
	}
	if r := f.do("GET", "/vend", f.user, ""); r.status != 200 || strings.Contains(string(r.body), "template") {
		t.Fatalf("GET /vend: %d %s", r.status, r.body)
	}
	if err := ovm.CheckTeams([]string{"platform", "platform"}); err == nil {
		t.Fatal("a team twice")
	}
	f.do("POST", "/v1/keys", f.admin, `{"name":"bad","teams":["no spaces"]}`).wantError(t, 400, "invalid")
}

// A CI token whose groups claim holds platform may lease a template open
// to team:platform; a token without it is refused, naming the template.
func TestATokensGroupsOpenATemplateToIt(t *testing.T) {
	iss := identitytest.New(t)
	v, err := identity.New(identity.Config{OIDC: []identity.IssuerConfig{{Issuer: iss.URL, Audience: oidcAudience, OwnerClaim: "repository",
		Require: map[string]string{"repository_owner": "my-org"}, GroupsClaim: "groups"}}}, ovm.SystemClock(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	small := ovm.Template{Name: "sandbox-small", Pool: "default",
		Lease:      ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, MinTTL: time.Minute, MaxPerOwner: 1},
		MaxPerTeam: 1, Allowed: []string{"team:platform"}}
	f := newFixtureEngine(t, httpapi.Config{Tokens: v}, engine.Config{Templates: []ovm.Template{small}})
	f.fill()
	token := func(groups ...any) string {
		c := iss.Claims(oidcAudience, time.Now())
		c["groups"] = groups
		return iss.Sign(nil, c)
	}
	var l client.Lease
	r := f.do("POST", "/v1/leases", token("readers", "platform"), `{"template":"sandbox-small"}`)
	r.json(t, &l)
	if r.status != 201 || l.Team != "platform" || l.Owner != "my-org/app" {
		t.Fatalf("a platform token: %d %s", r.status, r.body)
	}
	msg := f.do("POST", "/v1/leases", token("readers"), `{"template":"sandbox-small"}`).wantError(t, 403, "forbidden")
	if !strings.Contains(msg, `template "sandbox-small"`) {
		t.Fatalf("the refusal does not name the template: %s", msg)
	}
}
