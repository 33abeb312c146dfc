package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm/guardrail"
)

// The example, with its policy file beside the configuration.
const exampleTemplates = `pools:
  - name: member
    lease: {default_ttl: 24h, max_ttl: 96h}
templates:
  - name: sandbox-small
    description: "EU only, small instances, 8 hours"
    pool: member
    lease: {default_ttl: 8h, max_ttl: 72h, max_per_owner: 2}
    max_per_team: 10
    allowed: ["team:platform", "key:ci-*"]
    guardrails:
      regions: [eu-west-1, eu-central-1]
      deny_actions: ["ec2:PurchaseReservedInstancesOffering", "savingsplans:*"]
      instance_types: ["t3.*", "t4g.*", "m5.large"]
      policies: ["p-examplepolicy", "policies/no-public-s3.json"]
  - name: open
    pool: member
`

const noPublicS3 = `{"Version":"2012-10-17","Statement":[{"Sid":"NoPublicS3","Effect":"Deny","Action":["s3:PutBucketPublicAccessBlock","s3:PutAccountPublicAccessBlock"],"Resource":"*"}]}`

// templateConfig writes body as ovm.yaml and files beside it.
func templateConfig(t *testing.T, body string, files map[string]string) string {
	t.Helper()
	path := writeConfig(t, body)
	for name, content := range files {
		p := filepath.Join(filepath.Dir(path), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestTheExampleTemplatesLoadWithTheirGuardrails(t *testing.T) {
	cfg, err := loadConfig(templateConfig(t, exampleTemplates, map[string]string{"policies/no-public-s3.json": noPublicS3}))
	if err != nil {
		t.Fatal(err)
	}
	tpls := cfg.templates()
	if len(tpls) != 2 {
		t.Fatalf("%d templates", len(tpls))
	}
	small, open := tpls[0], tpls[1]
	if small.Lease.DefaultTTL != 8*time.Hour || small.Lease.MaxTTL != 72*time.Hour || small.Lease.MaxPerOwner != 2 || small.MaxPerTeam != 10 ||
		small.Lease.MinTTL != time.Minute || small.GuardrailVersion == "" {
		t.Fatalf("sandbox-small: %+v", small)
	}
	var doc guardrail.Document
	if err := json.Unmarshal([]byte(small.GuardrailDocument), &doc); err != nil {
		t.Fatal(err)
	}
	if len(small.GuardrailDocument) > guardrail.MaxSCPChars || !strings.Contains(small.GuardrailDocument, "NoPublicS3") ||
		!strings.Contains(small.GuardrailDocument, "arn:aws:iam::*:role/OrganizationAccountAccessRole") {
		t.Fatalf("the document: %s", small.GuardrailDocument)
	}
	t.Logf("sandbox-small's SCP: %d of %d characters", len(small.GuardrailDocument), guardrail.MaxSCPChars)
	// A template without a lease block takes its pool's.
	if open.Lease.DefaultTTL != 24*time.Hour || open.Lease.MaxTTL != 96*time.Hour || open.GuardrailDocument != "" {
		t.Fatalf("open: %+v", open)
	}
	if e := cfg.engineConfig(); e.DefaultTemplate != "member" || len(e.Templates) != 2 {
		t.Fatalf("the engine's templates: default %q, %d", e.DefaultTemplate, len(e.Templates))
	}
}

func TestABadTemplateFailsAtStartNamingItsKey(t *testing.T) {
	pool := "pools:\n  - name: member\n"
	files := map[string]string{"p.json": noPublicS3, "allow.json": `{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`, "bad.json": `{`}
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf(`"ec2:Describe%03dThing"`, i))
	}
	for body, want := range map[string]string{
		"templates:\n  - {name: t, pool: nowhere}":                                                                                                    `templates[0].pool: pool "nowhere" is not defined`,
		"templates:\n  - {name: t}":                                                                                                                   "templates[0].pool: is required",
		"templates:\n  - {name: member, pool: member}":                                                                                                `templates[0].name: "member" is pool "member"'s own template`,
		"templates:\n  - {name: t, pool: member}\n  - {name: t, pool: member}":                                                                        `templates[1].name: template "t" is defined twice`,
		"templates:\n  - {name: T!, pool: member}":                                                                                                    "templates[0].name",
		"templates:\n  - {name: t, pool: member, lease: {max_ttl: 1h}}":                                                                               "templates[0].lease.max_ttl",
		"templates:\n  - {name: t, pool: member, allowed: [everyone]}":                                                                                "templates[0].allowed[0]",
		"templates:\n  - {name: t, pool: member, guardrails: {regions: [mars]}}":                                                                      "templates[0].guardrails.regions[0]",
		"templates:\n  - {name: t, pool: member, guardrails: {colour: red}}":                                                                          "colour: unknown key",
		"templates:\n  - {name: t, pool: member, guardrails: {policies: [nope.json]}}":                                                                "templates[0].guardrails.policies[0]: open",
		"templates:\n  - {name: t, pool: member, guardrails: {policies: [bad.json]}}":                                                                 "template \"t\": policy file bad.json is not valid JSON",
		"templates:\n  - {name: t, pool: member, guardrails: {policies: [allow.json]}}":                                                               "is not a Deny",
		"templates:\n  - {name: t, pool: member, guardrails: {deny_actions: [" + strings.Join(many, ",") + "]}}":                                      "over AWS's quota of 5120",
		"templates:\n  - {name: t, pool: member, guardrails: {regions: [eu-west-1], policies: [p-aaaaaaaa1, p-aaaaaaaa2, p-aaaaaaaa3, p-aaaaaaaa4]}}": "6 service control policies",
		"api: {default_template: nowhere}":                                                                                                            "api.default_template: template \"nowhere\"",
	} {
		_, err := loadConfig(templateConfig(t, pool+body+"\n", files))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s:\n  %v\n  want %q", body, err, want)
		}
	}
	// A sign-up pool's guardrails bind its vended role (the pool's
	// role_name) for the sessions with a source identity; the
	// organization's policies cannot apply there.
	c, err := loadConfig(writeConfig(t, signupPool("")+"templates:\n  - {name: t, pool: default, guardrails: {regions: [eu-west-1]}}\n"))
	if err != nil {
		t.Fatalf("guardrails on a sign-up pool: %v", err)
	}
	doc := c.Templates[0].template.GuardrailDocument
	if !strings.Contains(doc, `"Null":{"aws:SourceIdentity":["false"]}`) || !strings.Contains(doc, "role/OVMCrossAccountRole") ||
		strings.Contains(doc, "aws:PrincipalARN") {
		t.Errorf("a sign-up pool's guardrails: %s", doc)
	}
	_, err = loadConfig(writeConfig(t, signupPool("")+"templates:\n  - {name: t, pool: default, guardrails: {policies: [p-aaaaaaaa1]}}\n"))
	if err == nil || !strings.Contains(err.Error(), `template "t": its pool's accounts are management accounts`) {
		t.Errorf("an organization's policy on a sign-up pool: %v", err)
	}
}
