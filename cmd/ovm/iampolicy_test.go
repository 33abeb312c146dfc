package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ovmdev/ovm/iampolicy"
)

// sids are the statement ids of a printed policy.
func sids(t *testing.T, out string) []string {
	t.Helper()
	var p iampolicy.Policy
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("not a policy: %v\n%s", err, out)
	}
	var ids []string
	for _, s := range p.Statement {
		ids = append(ids, s.Sid)
	}
	return ids
}

func TestIAMPolicyPrintsOnlyWhatTheConfigurationUses(t *testing.T) {
	cfg := writeConfig(t, `store: dynamodb
dynamodb: {table: ovm-prod}
aws: {region: eu-west-1}
notifications:
  subscriptions:
    - name: audit
      sns: {topic_arn: "arn:aws:sns:eu-west-1:210987654321:ovm-events"}
pools:
  - name: members
    provider: organizations
    organizations: {email_template: "aws+{id}@example.com", retiring_ou: ou-abcd-12345678, retiring_scp: p-12345678}
`)
	code, out, errOut := cli("iam-policy", "--config", cfg, "--account", "210987654321")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := sids(t, out)
	for _, want := range []string{"StoreTable", "OrganizationsRead", "CreateAccountsOfThesePools", "CloseAccountsOfThesePools",
		"MoveAccountsBetweenTheseParents", "AssumeTheCreationRole", "AssumeTheVendedRoleForLessees", "NotifySNS"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s in %v", want, got)
		}
	}
	for _, unwanted := range []string{"StoreCreateTable", "Vault", "SignupMailList", "CreateTheRetiringSCP", "KeepTheRetiringSCP", "BillingContact"} {
		if slices.Contains(got, unwanted) {
			t.Errorf("%s granted though the configuration does not use it", unwanted)
		}
	}
	for _, want := range []string{`"arn:aws:dynamodb:eu-west-1:210987654321:table/ovm-prod"`, `"arn:aws:iam::*:role/OVMCrossAccountRole"`,
		`"arn:aws:organizations::210987654321:ou/o-*/ou-abcd-12345678"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
}

// The spend block's queue (by its URL), the bill, and the bus statements
// when a sign-up pool's accounts put events on it.
func TestIAMPolicyHasTheSpendQueueAndBus(t *testing.T) {
	cfg := writeConfig(t, signupPool("")+`spend:
  queue_url: https://sqs.eu-central-1.amazonaws.com/210987654321/ovm-spend
  event_bus_arn: arn:aws:events:eu-central-1:210987654321:event-bus/ovm-spend
  cost_explorer: true
`)
	code, out, errOut := cli("iam-policy", "--config", cfg, "--account", "210987654321")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := sids(t, out)
	for _, want := range []string{"SpendEvents", "SpendBill", "SpendLetSignupAccountsPutEvents"} {
		if !slices.Contains(got, want) {
			t.Errorf("no %s in %v", want, got)
		}
	}
	for _, want := range []string{`"arn:aws:sqs:eu-central-1:210987654321:ovm-spend"`, `"arn:aws:events:eu-central-1:210987654321:event-bus/ovm-spend"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
}

func TestIAMPolicyOfTheEmbeddedDefaultIsEmpty(t *testing.T) {
	code, out, errOut := cli("iam-policy")
	if code != 0 || len(sids(t, out)) != 0 || !strings.Contains(out, `"Statement": []`) {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
}

func TestIAMPolicyRefusesABadConfigurationNamingTheKey(t *testing.T) {
	cfg := writeConfig(t, `pools:
  - name: members
    provider: organizations
    organizations: {email_template: "no-id@example.com"}
`)
	code, out, errOut := cli("iam-policy", "--config", cfg)
	if code == 0 || out != "" || !strings.Contains(errOut, "pools[0].organizations.email_template") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, _, errOut := cli("iam-policy", "--account", "12345"); code != 2 || !strings.Contains(errOut, "12-digit") {
		t.Fatalf("--account 12345: exit %d, %q", code, errOut)
	}
}

// yamlBlocks are the ```yaml blocks of a doc that hold pools.
func yamlBlocks(t *testing.T, path string) []string {
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, part := range strings.Split(string(md), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		if strings.Contains(body, "pools:") {
			out = append(out, regexp.MustCompile(`(?m)^\s*flow_file:.*\n`).ReplaceAllString(body, ""))
		}
	}
	return out
}

// TestIAMPolicyOfTheDocsExamplesIsTheOneShown: the configuration examples
// of docs/aws.md and docs/signup.md, loaded as OVM loads them, give the
// policies those pages show (iampolicy.Examples), so the Examples cannot
// drift from the pages' configurations.
func TestIAMPolicyOfTheDocsExamplesIsTheOneShown(t *testing.T) {
	for _, c := range []struct{ doc, example, account string }{
		{"../../docs/aws.md", "organizations", ""},
		{"../../docs/signup.md", "signup", "210987654321"},
	} {
		blocks := yamlBlocks(t, c.doc)
		if len(blocks) == 0 {
			t.Fatalf("%s: no configuration example", c.doc)
		}
		cfg, err := loadConfig(writeConfig(t, blocks[0]))
		if err != nil {
			t.Fatalf("%s: %v", c.doc, err)
		}
		got := string(iampolicy.For(iamPolicyConfig(cfg, c.account)).JSON())
		if want := string(iampolicy.For(iampolicy.Examples[c.example]).JSON()); got != want {
			t.Errorf("%s's example configuration gives\n%s\nbut the page shows iampolicy.Examples[%q]:\n%s", c.doc, got, c.example, want)
		}
	}
}

// A budget that freezes makes OVM keep the deny-all SCP of frozen leases:
// the policy grants what that needs, and not without one.
func TestIAMPolicyGrantsTheFreezesSCPOnlyWhenABudgetFreezes(t *testing.T) {
	pool := `pools:
  - name: members
    provider: organizations
    organizations: {email_template: "aws+{id}@example.com"}
`
	for _, c := range []struct {
		budget string
		want   bool
	}{
		{"", false},
		{"    budget: {limit_usd: 10, thresholds: [{at: 100%, action: end}]}\n", false},
		{"    budget: {limit_usd: 10, thresholds: [{at: 90%, action: freeze}]}\n", true},
	} {
		cfg := writeConfig(t, "store: dynamodb\ndynamodb: {table: ovm-prod}\naws: {region: eu-west-1}\n"+pool+c.budget)
		code, out, errOut := cli("iam-policy", "--config", cfg, "--account", "210987654321")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		got := sids(t, out)
		for _, sid := range []string{"CreateGuardrailSCPs", "AttachGuardrails"} {
			if slices.Contains(got, sid) != c.want {
				t.Errorf("budget %q: %s granted %v, want %v", c.budget, sid, slices.Contains(got, sid), c.want)
			}
		}
	}
}
