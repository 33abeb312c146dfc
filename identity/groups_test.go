package identity_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/identity"
)

// A token's teams come from its groups claim: a string or a list, with a
// prefix taken off; values that are not team names are dropped, and at
// most ovm.MaxTeams are kept.
func TestATokensTeamsAreItsGroupsClaim(t *testing.T) {
	f := newFixture(t, func(ic *identity.IssuerConfig) { ic.GroupsClaim, ic.GroupsPrefix = "groups", "ovm-" })
	ctx := context.Background()
	many := []any{}
	for i := range 120 {
		many = append(many, fmt.Sprintf("ovm-team%03d", i))
	}
	for name, c := range map[string]struct {
		groups any
		want   string
	}{
		"a list":                 {[]any{"ovm-platform", "admins", "ovm-data", "ovm-platform"}, "platform,data"},
		"a string":               {"ovm-platform", "platform"},
		"no prefix, no team":     {[]any{"platform"}, ""},
		"not strings":            {[]any{7, map[string]any{"a": 1}, "ovm-ok"}, "ok"},
		"not team names":         {[]any{"ovm-has space", "ovm-", "ovm-" + strings.Repeat("x", 200), "ovm-fine"}, "fine"},
		"no claim":               {nil, ""},
		"a number":               {42, ""},
		"more than ovm.MaxTeams": {many, strings.TrimSuffix(strings.Repeat("x,", ovm.MaxTeams), ",")},
	} {
		tok := f.issuer.Sign(nil, f.claims(func(m map[string]any) {
			if c.groups != nil {
				m["groups"] = c.groups
			}
		}))
		id, err := f.v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := strings.Join(id.Teams, ",")
		if name == "more than ovm.MaxTeams" {
			if len(id.Teams) != ovm.MaxTeams || id.Teams[0] != "team000" {
				t.Errorf("%s: %d teams, first %q", name, len(id.Teams), id.Teams[0])
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s: teams %q, want %q", name, got, c.want)
		}
	}
}

func TestAGroupsPrefixWithoutItsClaimIsRefusedAtStart(t *testing.T) {
	cfg := identity.Config{OIDC: []identity.IssuerConfig{{Issuer: "https://issuer.example", Audience: audience, OwnerClaim: "sub",
		OwnerPrefix: "x:", GroupsPrefix: "ovm-"}}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "groups_prefix") {
		t.Fatalf("%v", err)
	}
}
