package identity_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/identity"
)

func TestAGoodConfigIsValid(t *testing.T) {
	for _, c := range []identity.Config{
		{},
		{OIDC: []identity.IssuerConfig{{Issuer: "https://token.actions.githubusercontent.com", Audience: audience,
			OwnerClaim: "repository", Require: map[string]string{"repository_owner": "my-org"}, Role: ovm.RoleAdmin}}},
		{OIDC: []identity.IssuerConfig{{Issuer: "http://127.0.0.1:8999", Audience: audience, OwnerClaim: "sub"},
			{Issuer: "https://gitlab.example.com", Audience: audience, OwnerClaim: "project_path"}}},
		{OIDC: []identity.IssuerConfig{{Issuer: "http://[::1]:8999/tenant", Audience: audience, OwnerClaim: "email", OwnerPrefix: "me:"}}},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestABadIssuerConfigNamesTheKey(t *testing.T) {
	good := func() identity.IssuerConfig {
		return identity.IssuerConfig{Issuer: "https://issuer.example", Audience: audience, OwnerClaim: "sub"}
	}
	cases := []struct {
		name, field, want string
		edit              func(*identity.IssuerConfig)
	}{
		{"an empty issuer", "auth.oidc[0].issuer", "must not be empty", func(c *identity.IssuerConfig) { c.Issuer = "" }},
		{"an issuer over plain http", "auth.oidc[0].issuer", "must be https", func(c *identity.IssuerConfig) { c.Issuer = "http://issuer.example" }},
		{"a relative issuer", "auth.oidc[0].issuer", "is not an absolute URL", func(c *identity.IssuerConfig) { c.Issuer = "issuer.example" }},
		{"an issuer with a query", "auth.oidc[0].issuer", "must not have a query", func(c *identity.IssuerConfig) { c.Issuer = "https://issuer.example/?a=b" }},
		{"no audience", "auth.oidc[0].audience", "must not be empty", func(c *identity.IssuerConfig) { c.Audience = " " }},
		{"no owner claim", "auth.oidc[0].owner_claim", "must name the claim", func(c *identity.IssuerConfig) { c.OwnerClaim = "" }},
		{"an unknown role", "auth.oidc[0].role", `"root" must be user or admin`, func(c *identity.IssuerConfig) { c.Role = "root" }},
		{"an owner prefix with a space", "auth.oidc[0].owner_prefix", "printable characters without spaces", func(c *identity.IssuerConfig) { c.OwnerPrefix = "my ci:" }},
		{"a required claim without a value", "auth.oidc[0].require", `claim "repository_owner": names and values must not be empty`,
			func(c *identity.IssuerConfig) { c.Require = map[string]string{"repository_owner": ""} }},
		{"GitHub Actions without require", "auth.oidc[0].require", "without it any of its users could sign in",
			func(c *identity.IssuerConfig) { c.Issuer = "https://token.actions.githubusercontent.com" }},
		{"GitHub Enterprise's issuer without require", "auth.oidc[0].require", "must name at least one claim",
			func(c *identity.IssuerConfig) { c.Issuer = "https://token.actions.githubusercontent.com/my-enterprise" }},
	}
	for _, c := range cases {
		ic := good()
		c.edit(&ic)
		err := identity.Config{OIDC: []identity.IssuerConfig{ic}}.Validate()
		var fe *ovm.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Message, c.want) {
			t.Errorf("%s: %v, want %s: ...%s...", c.name, err, c.field, c.want)
		}
	}
	err := identity.Config{OIDC: []identity.IssuerConfig{good(), good()}}.Validate()
	if err == nil || !strings.HasPrefix(err.Error(), `auth.oidc[1].issuer: "https://issuer.example" is configured twice (also auth.oidc[0])`) {
		t.Errorf("an issuer twice: %v", err)
	}
	slash := good()
	slash.Issuer += "/"
	if err := (identity.Config{OIDC: []identity.IssuerConfig{good(), slash}}).Validate(); err == nil || !strings.Contains(err.Error(), "configured twice") {
		t.Errorf("an issuer twice, once with a trailing slash: %v", err)
	}
}

func TestARoleClaimNeedsItsAdminValues(t *testing.T) {
	base := identity.IssuerConfig{Issuer: "https://idp.example", Audience: "ovm", OwnerClaim: "email", OwnerPrefix: "idp:"}
	for _, c := range []struct {
		mod  func(*identity.IssuerConfig)
		want string
	}{
		{func(ic *identity.IssuerConfig) { ic.RoleClaim = "groups" }, "auth.oidc[0].role_claim"},
		{func(ic *identity.IssuerConfig) { ic.AdminValues = []string{"x"} }, "auth.oidc[0].role_claim"},
		{func(ic *identity.IssuerConfig) {
			ic.RoleClaim, ic.AdminValues, ic.Role = "groups", []string{"x"}, ovm.RoleAdmin
		}, "auth.oidc[0].role_claim"},
	} {
		ic := base
		c.mod(&ic)
		if err := (identity.Config{OIDC: []identity.IssuerConfig{ic}}).Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", ic, err, c.want)
		}
	}
	ic := base
	ic.RoleClaim, ic.AdminValues = "groups", []string{"ovm-admins"}
	if err := (identity.Config{OIDC: []identity.IssuerConfig{ic}}).Validate(); err != nil {
		t.Fatal(err)
	}
}
