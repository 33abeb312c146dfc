package iampolicy_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/ovmdev/ovm/iampolicy"
	"github.com/ovmdev/ovm/internal/mototest"
)

var update = flag.Bool("update", false, "rewrite the generated copies of the policies in docs/ and deploy/")

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// TestGeneratedCopies fails when a policy shown in the docs or the
// template's role differs from what the definition generates.
func TestGeneratedCopies(t *testing.T) {
	for _, f := range iampolicy.GeneratedFiles {
		path := filepath.Join("..", filepath.FromSlash(f))
		changed, err := iampolicy.RewriteFile(path, *update)
		switch {
		case err != nil:
			t.Errorf("%v", err)
		case changed && *update:
			t.Logf("rewrote %s", f)
		case changed:
			t.Errorf("%s differs from the policy package iampolicy generates; regenerate it: %s", f, iampolicy.RegenerateCommand)
		}
	}
}

// TestRewriteFillsEveryMarkedBlock checks the markers themselves: a block
// is filled with the example's JSON, an unknown name is an error, and a
// second rewrite changes nothing.
func TestRewriteFillsEveryMarkedBlock(t *testing.T) {
	in := "intro\n<!-- iampolicy:begin organizations -->\nstale\n<!-- iampolicy:end -->\nmiddle\n" +
		"Policies:\n  - PolicyDocument:\n      # iampolicy:begin template\n      Version: old\n      # iampolicy:end\n"
	out, n, err := iampolicy.Rewrite(in)
	if err != nil || n != 2 {
		t.Fatalf("Rewrite: %d blocks, %v", n, err)
	}
	if strings.Contains(out, "stale") || strings.Contains(out, "Version: old") {
		t.Fatalf("stale content kept:\n%s", out)
	}
	if !strings.Contains(out, "```json\n"+string(iampolicy.For(iampolicy.Examples["organizations"]).JSON())+"```\n<!-- iampolicy:end -->") {
		t.Fatalf("the Markdown block is not the example's policy:\n%s", out)
	}
	if !strings.Contains(out, "      # iampolicy:begin template\n      Version: \"2012-10-17\"\n      Statement:\n        - Sid: StoreTable\n") {
		t.Fatalf("the template block is not indented like its marker:\n%s", out)
	}
	again, _, _ := iampolicy.Rewrite(out)
	if again != out {
		t.Fatal("a second rewrite changed the output")
	}
	if _, _, err := iampolicy.Rewrite("<!-- iampolicy:begin nosuch -->\n<!-- iampolicy:end -->"); err == nil ||
		!strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("an unknown example is not named: %v", err)
	}
}

// everything is a configuration with every feature, in its forms.
func everything() iampolicy.Config {
	return iampolicy.Config{Region: "eu-west-1", Account: "210987654321",
		DynamoDB:       &iampolicy.DynamoDB{Table: "ovm", CreateTable: true},
		SecretsManager: &iampolicy.SecretsManager{Prefix: "ovm/", KMSKeyID: "alias/ovm"},
		Organizations: []iampolicy.OrganizationsPool{
			{Pool: "members", CreationRole: "OrganizationAccountAccessRole", RoleName: "OVMCrossAccountRole",
				ParentOU: "ou-abcd-11111111", RetiringOU: "ou-abcd-22222222", BillingContact: true},
			{Pool: "recycled", CreationRole: "OrganizationAccountAccessRole", RoleName: "Sandbox",
				RetiringOU: "ou-abcd-33333333", RetiringSCP: "p-12345678"}},
		Signup: []iampolicy.SignupPool{{Pool: "managers", RoleName: "OVMCrossAccountRole", SmokeTest: true,
			Inbox:      &iampolicy.S3Location{Bucket: "mail", Prefix: "inbound/"},
			Evidence:   &iampolicy.S3Location{Bucket: "evidence", Prefix: "evidence/"},
			Transcribe: []iampolicy.S3Location{{Bucket: "captcha", Prefix: "ovm-captcha/"}},
			Connect: &iampolicy.Connect{InstanceARN: "arn:aws:connect:eu-west-1:210987654321:instance/0123abcd-0000-4000-8000-000000000000",
				Prompts: iampolicy.S3Location{Bucket: "prompts", Prefix: "ovm-prompts/"}},
			Burial: &iampolicy.Burial{GraveyardOU: "ou-abcd-44444444"}}},
		SNSTopics:  []string{"arn:aws:sns:eu-west-1:210987654321:ovm-events"},
		EventBuses: []string{"default", "arn:aws:events:eu-west-1:210987654321:event-bus/ops"},
		Spend: &iampolicy.Spend{QueueARN: "arn:aws:sqs:eu-west-1:210987654321:ovm-spend", CostExplorer: true,
			SignupBus: "arn:aws:events:eu-west-1:210987654321:event-bus/ovm-spend"},
	}
}

// features are the parts of everything() a configuration may leave out.
var features = []struct {
	name string
	drop func(*iampolicy.Config)
}{
	{"dynamodb", func(c *iampolicy.Config) { c.DynamoDB = nil }},
	{"create_table", func(c *iampolicy.Config) {
		if c.DynamoDB != nil {
			c.DynamoDB.CreateTable = false
		}
	}},
	{"secretsmanager", func(c *iampolicy.Config) { c.SecretsManager = nil }},
	{"organizations", func(c *iampolicy.Config) { c.Organizations = nil }},
	{"retiring", func(c *iampolicy.Config) {
		for i := range c.Organizations {
			c.Organizations[i].RetiringOU = ""
		}
	}},
	{"signup", func(c *iampolicy.Config) { c.Signup = nil }},
	{"burial", func(c *iampolicy.Config) {
		for i := range c.Signup {
			c.Signup[i].Burial = nil
		}
	}},
	{"connect", func(c *iampolicy.Config) {
		for i := range c.Signup {
			c.Signup[i].Connect = nil
		}
	}},
	{"sinks", func(c *iampolicy.Config) { c.SNSTopics, c.EventBuses = nil, nil }},
	{"spend", func(c *iampolicy.Config) { c.Spend = nil }},
}

// eachCombination calls f with every combination of features left out.
func eachCombination(f func(name string, c iampolicy.Config)) {
	for mask := 0; mask < 1<<len(features); mask++ {
		c := everything()
		var left []string
		for i, ft := range features {
			if mask&(1<<i) != 0 {
				ft.drop(&c)
				left = append(left, ft.name)
			}
		}
		f("without "+strings.Join(left, ","), c)
	}
}

// TestNoPolicyGrantsAServiceWholesale: for every combination of features,
// no action has a wildcard (so no organizations:* or iam:*, on * or on
// anything), every statement allows and names its resources, and Sids are
// unique.
func TestNoPolicyGrantsAServiceWholesale(t *testing.T) {
	eachCombination(func(name string, c iampolicy.Config) {
		p := iampolicy.For(c)
		sids := map[string]bool{}
		for _, s := range p.Statement {
			if sids[s.Sid] {
				t.Errorf("%s: Sid %s twice", name, s.Sid)
			}
			sids[s.Sid] = true
			if s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 {
				t.Errorf("%s: %s: effect %q, %d actions, %d resources", name, s.Sid, s.Effect, len(s.Action), len(s.Resource))
			}
			for _, a := range s.Action {
				if strings.ContainsAny(a, "*?") || !strings.Contains(a, ":") {
					t.Errorf("%s: %s grants %q", name, s.Sid, a)
				}
				svc, _, _ := strings.Cut(a, ":")
				if (svc == "organizations" || svc == "iam") && slices.Contains(s.Resource, "*") && s.Condition == nil &&
					!readOnly(a) && a != "organizations:InviteAccountToOrganization" {
					t.Errorf("%s: %s grants %s on * without a condition", name, s.Sid, a)
				}
			}
		}
	})
}

// readOnly reports whether an Organizations action only reads.
func readOnly(action string) bool {
	_, op, _ := strings.Cut(action, ":")
	return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List")
}

// statement finds a statement by Sid.
func statement(p iampolicy.Policy, sid string) *iampolicy.Statement {
	for i := range p.Statement {
		if p.Statement[i].Sid == sid {
			return &p.Statement[i]
		}
	}
	return nil
}

func TestPolicyFollowsTheConfiguration(t *testing.T) {
	full := iampolicy.For(everything())
	cases := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"the embedded default (SQLite, sim) needs no statement", func(t *testing.T) {
			if p := iampolicy.For(iampolicy.Config{}); len(p.Statement) != 0 {
				t.Fatalf("statements: %+v", p.Statement)
			}
		}},
		{"the store is the table and its indexes, no other table", func(t *testing.T) {
			s := statement(full, "StoreTable")
			want := []string{"arn:aws:dynamodb:eu-west-1:210987654321:table/ovm", "arn:aws:dynamodb:eu-west-1:210987654321:table/ovm/index/*"}
			if s == nil || !slices.Equal(s.Resource, want) {
				t.Fatalf("StoreTable: %+v", s)
			}
			for _, a := range []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:DescribeTable"} {
				if !slices.Contains(s.Action, a) {
					t.Errorf("StoreTable lacks %s", a)
				}
			}
		}},
		{"CreateTable only with create_table", func(t *testing.T) {
			c := everything()
			c.DynamoDB.CreateTable = false
			if statement(iampolicy.For(c), "StoreCreateTable") != nil || statement(full, "StoreCreateTable") == nil {
				t.Fatal("StoreCreateTable does not follow create_table")
			}
		}},
		{"closing is tied to the pools' tag", func(t *testing.T) {
			s := statement(full, "CloseAccountsOfThesePools")
			if s == nil || !slices.Equal(s.Condition["StringEquals"]["aws:ResourceTag/ovm:pool"], []string{"members", "recycled"}) {
				t.Fatalf("CloseAccountsOfThesePools: %+v", s)
			}
			if c := statement(full, "CreateAccountsOfThesePools"); c == nil ||
				!slices.Equal(c.Condition["StringEquals"]["aws:RequestTag/ovm:pool"], []string{"members", "recycled"}) {
				t.Fatalf("CreateAccountsOfThesePools: %+v", c)
			}
		}},
		{"moves only between the root and the configured OUs", func(t *testing.T) {
			s := statement(full, "MoveAccountsBetweenTheseParents")
			for _, ou := range []string{"ou-abcd-11111111", "ou-abcd-22222222", "ou-abcd-33333333", "ou-abcd-44444444"} {
				if s == nil || !slices.Contains(s.Resource, "arn:aws:organizations::210987654321:ou/o-*/"+ou) {
					t.Fatalf("MoveAccount lacks %s: %+v", ou, s)
				}
			}
			if len(s.Resource) != 6 {
				t.Fatalf("MoveAccount resources: %v", s.Resource)
			}
		}},
		{"SCP writes only when OVM makes its own retiring SCP", func(t *testing.T) {
			s := statement(full, "KeepTheRetiringSCP")
			if s == nil || slices.Contains(s.Resource, "arn:aws:organizations::210987654321:ou/o-*/ou-abcd-33333333") {
				t.Fatalf("KeepTheRetiringSCP: %+v (the pool with retiring_scp needs no attach)", s)
			}
			c := everything()
			c.Organizations[0].RetiringSCP = "p-87654321"
			p := iampolicy.For(c)
			if statement(p, "CreateTheRetiringSCP") != nil || statement(p, "KeepTheRetiringSCP") != nil {
				t.Fatal("SCP writes granted though every retiring OU has its retiring_scp")
			}
			if r := statement(p, "OrganizationsRead"); !slices.Contains(r.Action, "organizations:ListPoliciesForTarget") {
				t.Fatal("the retiring SCP can no longer be checked")
			}
		}},
		{"sessions only into the named roles", func(t *testing.T) {
			s := statement(full, "AssumeTheVendedRoleForLessees")
			if s == nil || !slices.Equal(s.Resource, []string{"arn:aws:iam::*:role/OVMCrossAccountRole", "arn:aws:iam::*:role/Sandbox"}) ||
				!slices.Equal(s.Action, []string{"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}) {
				t.Fatalf("AssumeTheVendedRoleForLessees: %+v", s)
			}
			if c := statement(full, "AssumeTheCreationRole"); c == nil || !slices.Equal(c.Resource, []string{"arn:aws:iam::*:role/OrganizationAccountAccessRole"}) {
				t.Fatalf("AssumeTheCreationRole: %+v", c)
			}
		}},
		{"the vault is its prefix, and an alias key is matched by alias through Secrets Manager", func(t *testing.T) {
			s := statement(full, "Vault")
			if s == nil || !slices.Equal(s.Resource, []string{"arn:aws:secretsmanager:eu-west-1:210987654321:secret:ovm/*"}) {
				t.Fatalf("Vault: %+v", s)
			}
			k := statement(full, "VaultKey")
			if k == nil || k.Condition["ForAnyValue:StringEquals"]["kms:ResourceAliases"][0] != "alias/ovm" ||
				k.Condition["StringEquals"]["kms:ViaService"][0] != "secretsmanager.eu-west-1.amazonaws.com" {
				t.Fatalf("VaultKey: %+v", k)
			}
		}},
		{"an EventBridge bus by name becomes its ARN", func(t *testing.T) {
			s := statement(full, "NotifyEventBridge")
			if s == nil || !slices.Equal(s.Resource, []string{"arn:aws:events:eu-west-1:210987654321:event-bus/default",
				"arn:aws:events:eu-west-1:210987654321:event-bus/ops"}) {
				t.Fatalf("NotifyEventBridge: %+v", s)
			}
		}},
		{"the inbox is listed only under its prefix", func(t *testing.T) {
			s := statement(full, "SignupMailList")
			if s == nil || s.Condition["StringLike"]["s3:prefix"][0] != "inbound/*" || s.Resource[0] != "arn:aws:s3:::mail" {
				t.Fatalf("SignupMailList: %+v", s)
			}
		}},
		{"spend reads its queue and the bill, and lets sign-up accounts onto its bus only", func(t *testing.T) {
			q, b, ce := statement(full, "SpendEvents"), statement(full, "SpendLetSignupAccountsPutEvents"), statement(full, "SpendBill")
			if q == nil || !slices.Equal(q.Resource, []string{"arn:aws:sqs:eu-west-1:210987654321:ovm-spend"}) ||
				!slices.Equal(q.Action, []string{"sqs:DeleteMessage", "sqs:ReceiveMessage"}) {
				t.Fatalf("SpendEvents: %+v", q)
			}
			if b == nil || !slices.Equal(b.Resource, []string{"arn:aws:events:eu-west-1:210987654321:event-bus/ovm-spend"}) || ce == nil {
				t.Fatalf("SpendLetSignupAccountsPutEvents %+v, SpendBill %+v", b, ce)
			}
			c := everything()
			c.Spend = &iampolicy.Spend{QueueARN: "arn:aws:sqs:eu-west-1:210987654321:ovm-spend"}
			if p := iampolicy.For(c); statement(p, "SpendBill") != nil || statement(p, "SpendLetSignupAccountsPutEvents") != nil {
				t.Fatal("the bill or the bus statements without their configuration")
			}
		}},
		{"Connect is its instance and the phone numbers of its account", func(t *testing.T) {
			s := statement(full, "VerificationCallFlows")
			if s == nil || !slices.Contains(s.Resource, "arn:aws:connect:eu-west-1:210987654321:phone-number/*") {
				t.Fatalf("VerificationCallFlows: %+v", s)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, c.check)
	}
}

// TestEveryPolicyIsAcceptedByIAM creates each combination's policy as a
// managed policy in moto's IAM, which checks the grammar, the services of
// the actions and the form of the resource ARNs, and checks IAM's 6,144
// character quota of a managed policy, which moto does not enforce. Neither
// tells whether AWS would authorize OVM's calls with it: moto does not
// evaluate policies.
func TestEveryPolicyIsAcceptedByIAM(t *testing.T) {
	moto := mototest.Require(t)
	ctx := mototest.WithContext(t)
	client := iam.NewFromConfig(moto.Config())
	largest := 0
	n := 0
	eachCombination(func(name string, c iampolicy.Config) {
		p := iampolicy.For(c)
		if len(p.Statement) == 0 {
			return
		}
		largest = max(largest, p.Size())
		if p.Size() > iampolicy.ManagedPolicyQuota {
			t.Errorf("%s: %d characters, above IAM's 6,144 for a managed policy", name, p.Size())
		}
		n++
		if n%17 != 1 && n > 3 { // moto is slow: a spread of the combinations, and the full one first
			return
		}
		_, err := client.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(fmt.Sprintf("ovm-%d", n)),
			PolicyDocument: aws.String(string(p.JSON()))})
		if err != nil {
			t.Errorf("%s: IAM refuses the policy: %v", name, err)
		}
	})
	for name, c := range iampolicy.Examples {
		if _, err := client.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("example-" + name),
			PolicyDocument: aws.String(string(iampolicy.For(c).JSON()))}); err != nil {
			t.Errorf("example %s: IAM refuses the policy: %v", name, err)
		}
	}
	t.Logf("the largest policy has %d characters of 6,144", largest)
	// moto's check is real: a malformed policy is refused.
	bad := iampolicy.For(everything())
	bad.Statement[0].Action = append(bad.Statement[0].Action, "notaservice")
	if _, err := client.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("malformed"),
		PolicyDocument: aws.String(string(bad.JSON()))}); err == nil {
		t.Fatal("moto accepted an action without a service prefix: the check above shows nothing")
	}
}

// TestJSONIsStable: the same configuration prints the same bytes (the docs
// and the template compare byte for byte).
func TestJSONIsStable(t *testing.T) {
	a, b := iampolicy.For(everything()).JSON(), iampolicy.For(everything()).JSON()
	if string(a) != string(b) {
		t.Fatal("two renderings differ")
	}
	var back iampolicy.Policy
	if err := json.Unmarshal(a, &back); err != nil || back.Version != iampolicy.Version {
		t.Fatalf("not a policy: %v", err)
	}
}
