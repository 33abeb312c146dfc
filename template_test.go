package ovm_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

func goodTemplate() ovm.Template {
	return ovm.Template{Name: "sandbox-small", Pool: "member",
		Lease:   ovm.LeasePolicy{DefaultTTL: 8 * time.Hour, MaxTTL: 72 * time.Hour, MinTTL: time.Minute, MaxPerOwner: 2},
		Allowed: []string{"team:platform", "key:ci-*"},
		Guardrails: ovm.Guardrails{Regions: []string{"eu-west-1", "eu-central-1"}, DenyActions: []string{"savingsplans:*"},
			InstanceTypes: []string{"t3.*"}, Policies: []string{"p-examplepolicy", "policies/no-public-s3.json"}}}
}

func TestATemplatesWrongKeyIsNamed(t *testing.T) {
	if err := goodTemplate().Validate(); err != nil {
		t.Fatal(err)
	}
	for field, mod := range map[string]func(*ovm.Template){
		"name":                         func(t *ovm.Template) { t.Name = "Sandbox" },
		"pool":                         func(t *ovm.Template) { t.Pool = "" },
		"description":                  func(t *ovm.Template) { t.Description = strings.Repeat("x", 1025) },
		"lease.max_ttl":                func(t *ovm.Template) { t.Lease.MaxTTL = time.Hour },
		"lease.max_per_owner":          func(t *ovm.Template) { t.Lease.MaxPerOwner = 0 },
		"max_per_team":                 func(t *ovm.Template) { t.MaxPerTeam = -1 },
		"allowed[1]":                   func(t *ovm.Template) { t.Allowed[1] = "user:bob" },
		"allowed[0]":                   func(t *ovm.Template) { t.Allowed[0] = "team:" },
		"guardrails.regions[1]":        func(t *ovm.Template) { t.Guardrails.Regions[1] = "europe" },
		"guardrails.deny_actions[0]":   func(t *ovm.Template) { t.Guardrails.DenyActions = []string{"iam:*"} },
		"guardrails.deny_actions[1]":   func(t *ovm.Template) { t.Guardrails.DenyActions = []string{"ec2:RunInstances", "sts:?*"} },
		"guardrails.instance_types[0]": func(t *ovm.Template) { t.Guardrails.InstanceTypes = []string{"T3 large"} },
		"guardrails.policies[1]":       func(t *ovm.Template) { t.Guardrails.Policies[1] = "policies/no-public-s3.yaml" },
		"guardrails.policies[0]":       func(t *ovm.Template) { t.Guardrails.Policies[0] = "p-SHORT" },
	} {
		tp := goodTemplate()
		tp.Allowed = append([]string(nil), tp.Allowed...)
		tp.Guardrails.Regions = append([]string(nil), tp.Guardrails.Regions...)
		tp.Guardrails.Policies = append([]string(nil), tp.Guardrails.Policies...)
		mod(&tp)
		var fe *ovm.FieldError
		if err := tp.Validate(); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	// A region listed twice: the second is named.
	tp := goodTemplate()
	tp.Guardrails.Regions = []string{"eu-west-1", "eu-west-1"}
	if err := tp.Validate(); err == nil || !strings.Contains(err.Error(), "guardrails.regions[1]") {
		t.Errorf("a region listed twice: %v", err)
	}
}

func TestATemplateAllowsItsTeamsAndKeysOnly(t *testing.T) {
	tp := goodTemplate()
	for r, want := range map[*ovm.Requester]bool{
		{Kind: "oidc", Name: "alice", Teams: []string{"data", "platform"}}: true,
		{Kind: "oidc", Name: "bob", Teams: []string{"data"}}:               false,
		{Kind: "key", Name: "ci-main"}:                                     true,
		{Kind: "key", Name: "dev-ci-main"}:                                 false,
		{Kind: "oidc", Name: "ci-main"}:                                    false, // key: names keys only
		{Kind: "key", Name: "bob", Teams: []string{"platform"}}:            true,
	} {
		if got := tp.Allows(*r); got != want {
			t.Errorf("%+v: allowed %v, want %v", *r, got, want)
		}
	}
	tp.Allowed = nil
	if !tp.Allows(ovm.Requester{Kind: "key", Name: "anyone"}) {
		t.Error("a template without allowed is for everyone")
	}
	tp.Allowed = []string{"oidc:my-org/*"}
	if !tp.Allows(ovm.Requester{Kind: "oidc", Name: "my-org/app"}) || tp.Allows(ovm.Requester{Kind: "oidc", Name: "other/app"}) {
		t.Error("oidc:my-org/* allows my-org's repositories only")
	}
}

func TestAPoolsImplicitTemplateIsItsLeaseBlock(t *testing.T) {
	p := ovm.Pool{Name: "my_pool", Provider: "sim"}.WithDefaults()
	tp := ovm.ImplicitTemplate(p)
	if tp.Name != "my_pool" || tp.Pool != "my_pool" || !reflect.DeepEqual(tp.Lease, p.Lease) || !tp.Guardrails.Empty() || !tp.Allows(ovm.Requester{Kind: "key", Name: "x"}) {
		t.Fatalf("implicit template %+v", tp)
	}
	if err := tp.Validate(); err != nil {
		t.Fatalf("a pool's name is its implicit template's, even with '_': %v", err)
	}
}
