package guardrail_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/guardrail"
	"github.com/ovmdev/ovm/internal/testtool"
)

var (
	opts     = guardrail.Options{ExemptRole: "OrganizationAccountAccessRole"}
	roleOpts = guardrail.Options{ExemptRole: "OVMCrossAccountRole", OnRole: true}
)

// The example template's guardrails.
var example = ovm.Guardrails{
	Regions:       []string{"eu-west-1", "eu-central-1"},
	DenyActions:   []string{"ec2:PurchaseReservedInstancesOffering", "savingsplans:*"},
	InstanceTypes: []string{"t3.*", "t4g.*", "m5.large"},
	Policies:      []string{"p-examplepolicy"},
}

func statement(t *testing.T, d *guardrail.Document, sid string) guardrail.Statement {
	t.Helper()
	for _, s := range d.Statement {
		if s.Sid == sid {
			return s
		}
	}
	t.Fatalf("no statement %s in %s", sid, d.JSON())
	return guardrail.Statement{}
}

func TestTheExampleDeniesWhatItSaysAndSparesOVMsRole(t *testing.T) {
	d, err := guardrail.Check(example, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the example's SCP: %d of %d characters (version %s)", len(d.JSON()), guardrail.MaxSCPChars, d.Hash())
	exempt := "arn:aws:iam::*:role/OrganizationAccountAccessRole"
	for _, s := range d.Statement {
		if s.Effect != "Deny" || !slices.Equal(s.Condition["ArnNotLike"]["aws:PrincipalARN"], []string{exempt}) {
			t.Errorf("statement %s: %s, does not spare OVM's role", s.Sid, d.JSON())
		}
	}
	r := statement(t, d, "OVMDenyOtherRegions")
	if !slices.Equal(r.Condition["StringNotEquals"]["aws:RequestedRegion"], []string{"eu-central-1", "eu-west-1"}) ||
		!slices.Contains(r.NotAction, "iam:*") || !slices.Contains(r.NotAction, "sts:*") || !slices.Contains(r.NotAction, "support:*") || len(r.Action) != 0 {
		t.Errorf("region deny: %+v", r)
	}
	if a := statement(t, d, "OVMDenyActions"); !slices.Equal(a.Action, []string{"ec2:PurchaseReservedInstancesOffering", "savingsplans:*"}) {
		t.Errorf("action deny: %+v", a)
	}
	it := statement(t, d, "OVMDenyOtherInstanceTypes")
	if !slices.Equal(it.Action, []string{"ec2:RunInstances"}) || !slices.Equal(it.Resource, []string{"arn:aws:ec2:*:*:instance/*"}) ||
		!slices.Equal(it.Condition["StringNotLike"]["ec2:InstanceType"], []string{"m5.large", "t3.*", "t4g.*"}) {
		t.Errorf("instance types: %+v", it)
	}
	if p := statement(t, d, "OVMProtectItsRole"); !slices.Equal(p.Resource, []string{exempt, "arn:aws:iam::*:role/" + ovm.SpendForwardRole}) ||
		!slices.Contains(p.Action, "iam:UpdateAssumeRolePolicy") {
		t.Errorf("role protection: %+v", p)
	}
	if p := statement(t, d, "OVMProtectItsSpendRule"); !slices.Equal(p.Resource, []string{"arn:aws:events:*:*:rule/" + ovm.SpendForwardRule}) ||
		!slices.Contains(p.Action, "events:RemoveTargets") || !slices.Contains(p.Condition["ArnNotLike"]["aws:PrincipalARN"], exempt) {
		t.Errorf("spend rule protection: %+v", p)
	}
	// The same guardrails in another order are the same document.
	again := example
	again.Regions = []string{"eu-central-1", "eu-west-1"}
	if d2, _ := guardrail.Check(again, opts, nil); d2.Hash() != d.Hash() {
		t.Error("the order of a list changed the document's version")
	}
	if d3, _ := guardrail.Check(ovm.Guardrails{Regions: []string{"eu-west-1"}}, opts, nil); d3.Hash() == d.Hash() {
		t.Error("other guardrails, the same version")
	}
}

func TestNoStatementsNoDocument(t *testing.T) {
	for _, g := range []ovm.Guardrails{{}, {Policies: []string{"p-abcdefgh1"}}} {
		if d, err := guardrail.Check(g, opts, nil); d != nil || err != nil {
			t.Errorf("%+v: %v, %v; want no document", g, d, err)
		}
	}
	if _, err := guardrail.For(example, guardrail.Options{}, nil); err == nil {
		t.Error("a document without the role to spare")
	}
}

func TestAWSQuotasRefuseTheTemplate(t *testing.T) {
	var many []string
	for i := range 400 {
		many = append(many, fmt.Sprintf("ec2:Describe%03dThing", i))
	}
	_, err := guardrail.Check(ovm.Guardrails{DenyActions: many}, opts, nil)
	if err == nil || !strings.Contains(err.Error(), "over AWS's quota of 5120") {
		t.Errorf("a %d-action deny: %v", len(many), err)
	}
	four := ovm.Guardrails{Regions: []string{"eu-west-1"}, Policies: []string{"p-aaaaaaaa1", "p-aaaaaaaa2", "p-aaaaaaaa3", "p-aaaaaaaa4"}}
	if _, err := guardrail.Check(four, opts, nil); err == nil || !strings.Contains(err.Error(), "6 service control policies") {
		t.Errorf("FullAWSAccess, OVM's and 4 by id: %v", err)
	}
	three := four
	three.Policies = four.Policies[:3]
	if _, err := guardrail.Check(three, opts, nil); err != nil {
		t.Errorf("5 policies on the account are within the quota: %v", err)
	}
}

func TestPolicyFilesMustBeDenyDocuments(t *testing.T) {
	g := ovm.Guardrails{Policies: []string{"no-s3.json"}}
	for body, want := range map[string]string{
		`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:PutBucketPolicy","Resource":"*"}}`:       "",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["s3:PutBucketPolicy"],"Resource":["*"]}]}`: "",
		`{"Statement":[`: "not valid JSON",
		`{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`: "not a Deny",
		`{"Statement":[{"Effect":"Deny","Resource":"*"}]}`:                  "names no Action",
		`{"Statement":[{"Effect":"Deny","Action":"s3:*"}]}`:                 "names no Resource",
		`{"Statement":[]}`:     "no statement",
		`{"Statement":"s3:*"}`: "must be a statement",
		`{"Statement":[{"Effect":"Deny","Action":7,"Resource":"*"}]}`: "must be a statement",
	} {
		d, err := guardrail.Check(g, opts, map[string][]byte{"no-s3.json": []byte(body)})
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", body, err)
		case want == "" && !strings.Contains(d.JSON(), `"s3:PutBucketPolicy"`):
			t.Errorf("%s: the file's statement is not in %s", body, d.JSON())
		case want == "" && !slices.Equal(d.Statement[0].Condition["ArnNotLike"]["aws:PrincipalARN"], []string{"arn:aws:iam::*:role/OrganizationAccountAccessRole"}):
			t.Errorf("%s: the file's statement does not spare OVM's role: %s", body, d.JSON())
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
	if _, err := guardrail.Check(g, opts, nil); err == nil {
		t.Error("a policy file that was not read")
	}
}

// combinations is every combination of the guardrail keys that make
// statements, with a policy file.
func combinations() map[string]*guardrail.Document {
	out := map[string]*guardrail.Document{}
	file := []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"NoPublicBuckets","Effect":"Deny","Action":["s3:PutBucketPublicAccessBlock","s3:PutAccountPublicAccessBlock"],"Resource":"*"}]}`)
	for mask := 1; mask < 16; mask++ {
		var g ovm.Guardrails
		if mask&1 != 0 {
			g.Regions = example.Regions
		}
		if mask&2 != 0 {
			g.DenyActions = example.DenyActions
		}
		if mask&4 != 0 {
			g.InstanceTypes = example.InstanceTypes
		}
		if mask&8 != 0 {
			g.Policies = []string{"no-public-s3.json"}
		}
		d, err := guardrail.Check(g, opts, map[string][]byte{"no-public-s3.json": file})
		if err != nil {
			panic(err)
		}
		out[fmt.Sprintf("Combination%02d", mask)] = d
		// The same keys on a management account's role, and the role's
		// permissions boundary.
		r, err := guardrail.Check(g, roleOpts, map[string][]byte{"no-public-s3.json": file})
		if err != nil {
			panic(err)
		}
		out[fmt.Sprintf("Role%02d", mask)] = r
		b, err := guardrail.Boundary(r.JSON())
		if err != nil {
			panic(err)
		}
		var bd guardrail.Document
		if err := json.Unmarshal([]byte(b), &bd); err != nil {
			panic(err)
		}
		out[fmt.Sprintf("Boundary%02d", mask)] = &bd
	}
	return out
}

// Every condition key a document uses is one of ConditionKeys (each with
// its source); cfn-lint does not check condition keys.
func TestEveryConditionKeyIsAKnownOne(t *testing.T) {
	for name, d := range combinations() {
		for _, s := range d.Statement {
			for _, kv := range s.Condition {
				for k := range kv {
					if guardrail.ConditionKeys[k] == "" {
						t.Errorf("%s: condition key %s is not in guardrail.ConditionKeys", name, k)
					}
				}
			}
		}
	}
}

// lint writes docs as IAM managed policies of one CloudFormation template
// and runs cfn-lint on it. W3037 checks each Action against every IAM
// action it knows, but not NotAction: each NotAction list is linted again
// as an Action list.
func lint(t *testing.T, docs map[string]*guardrail.Document) ([]byte, error) {
	t.Helper()
	cfnLint := testtool.Require(t, "cfn-lint", "make deps installs it (pip install cfn-lint)")
	res := map[string]any{}
	for name, d := range docs {
		res[name] = map[string]any{"Type": "AWS::IAM::ManagedPolicy", "Properties": map[string]any{"PolicyDocument": d}}
		for i, s := range d.Statement {
			if len(s.NotAction) > 0 {
				view := guardrail.Document{Version: d.Version, Statement: []guardrail.Statement{{Effect: "Deny", Action: s.NotAction, Resource: guardrail.List{"*"}}}}
				res[fmt.Sprintf("%sNotAction%d", name, i)] = map[string]any{"Type": "AWS::IAM::ManagedPolicy", "Properties": map[string]any{"PolicyDocument": view}}
			}
		}
	}
	b, err := json.Marshal(map[string]any{"AWSTemplateFormatVersion": "2010-09-09", "Resources": res})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "guardrails.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return exec.Command(cfnLint, path).CombinedOutput()
}

// cfn-lint, an independent IAM checker, knows every action each generated
// document names (W3037), across every combination of the keys; and it
// is not blind: one misspelt action fails it.
func TestCfnLintKnowsEveryActionTheDocumentsName(t *testing.T) {
	docs := combinations()
	if out, err := lint(t, docs); err != nil {
		t.Fatalf("cfn-lint on %d generated documents: %v\n%s", len(docs), err, out)
	}
	bad := *docs["Combination15"]
	bad.Statement = slices.Clone(bad.Statement)
	bad.Statement[0].NotAction = append(slices.Clone(bad.Statement[0].NotAction), "sts:AssumeRoel")
	out, err := lint(t, map[string]*guardrail.Document{"Broken": &bad})
	if err == nil || !strings.Contains(string(out), "W3037") {
		t.Fatalf("cfn-lint passed a misspelt action: %v\n%s", err, out)
	}
}

func TestTheSummarySaysWhatTheGuardrailsDo(t *testing.T) {
	s := strings.Join(guardrail.Summary(example), "\n")
	for _, want := range []string{"eu-west-1, eu-central-1", "savingsplans:*", "t3.*", "p-examplepolicy"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %q lacks %q", s, want)
		}
	}
	if s := guardrail.Summary(ovm.Guardrails{}); len(s) != 1 || !strings.Contains(s[0], "No guardrails") {
		t.Errorf("summary of none: %q", s)
	}
}

// On a management account's role, every deny binds the sessions with a
// source identity (the lessee's) and no other: OVM's own sessions of the
// same role carry none, and there is no other role to spare by ARN. The
// role's boundary and OVM's other policies are kept from the lessee, and
// the boundary allows all but what the document denies.
func TestAManagementAccountsDocumentBindsOnlyTheLesseesSessions(t *testing.T) {
	g := example
	g.Policies = nil
	d, err := guardrail.Check(g, roleOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range d.Statement {
		if s.Effect != "Deny" || len(s.Condition["Null"]["aws:SourceIdentity"]) != 1 || s.Condition["Null"]["aws:SourceIdentity"][0] != "false" {
			t.Errorf("statement %s does not bind exactly the sessions with a source identity: %+v", s.Sid, s.Condition)
		}
		if _, ok := s.Condition["ArnNotLike"]; ok {
			t.Errorf("statement %s spares a role by ARN on the vended role itself: %+v", s.Sid, s.Condition)
		}
	}
	if p := statement(t, d, "OVMProtectItsPolicies"); !slices.Contains(p.Resource, "arn:aws:iam::*:policy/OVM*") ||
		!slices.Contains(p.Resource, "arn:aws:iam::*:policy/*/OVM*") || !slices.Contains(p.Action, "iam:CreatePolicyVersion") ||
		!slices.Contains(p.Action, "iam:CreatePolicy") {
		t.Fatalf("the boundary (or a planted one) is not kept from the lessee: %+v", p)
	}
	if p := statement(t, d, "OVMProtectItsTrail"); !slices.Contains(p.Resource, "arn:aws:cloudtrail:*:*:trail/ovm-spend") ||
		!slices.Contains(p.Resource, "arn:aws:s3:::ovm-spend-trail-*") || !slices.Contains(p.Action, "cloudtrail:StopLogging") ||
		!slices.Contains(p.Action, "s3:PutBucketPolicy") {
		t.Fatalf("the spend trail and its bucket are not kept from the lessee: %+v", p)
	}
	if p := statement(t, d, "OVMProtectItsRole"); !slices.Contains(p.Resource, "arn:aws:iam::*:role/OVMCrossAccountRole") {
		t.Fatalf("the vended role is not kept from the lessee: %+v", p)
	}
	b, err := guardrail.Boundary(d.JSON())
	if err != nil {
		t.Fatal(err)
	}
	var bd guardrail.Document
	if err := json.Unmarshal([]byte(b), &bd); err != nil {
		t.Fatal(err)
	}
	if a := bd.Statement[0]; a.Effect != "Allow" || !slices.Equal(a.Action, guardrail.List{"*"}) || len(bd.Statement) != len(d.Statement)+1 {
		t.Fatalf("the boundary is not everything but the denies: %s", b)
	}
	// An SCP's document has no such statement (its policies are SCPs).
	s, _ := guardrail.Check(g, opts, nil)
	for _, st := range s.Statement {
		if st.Sid == "OVMProtectItsPolicies" || st.Condition["Null"] != nil {
			t.Fatalf("the SCP has the role's statement %s", st.Sid)
		}
	}
	// An operator's statement with a Null condition of its own keeps it,
	// and gets the source identity's.
	file := []byte(`{"Statement":{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"*","Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}}`)
	f, err := guardrail.Check(ovm.Guardrails{Policies: []string{"f.json"}}, roleOpts, map[string][]byte{"f.json": file})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Statement[0].Condition["Null"]; len(n) != 2 || n["aws:SourceIdentity"][0] != "false" || n["s3:x-amz-server-side-encryption"][0] != "true" {
		t.Fatalf("the operator's statement's conditions: %+v", f.Statement[0].Condition)
	}
}

// A management account's quotas are IAM's: no organization policy by id,
// the boundary within a managed policy's 6,144 characters.
func TestIAMsQuotasRefuseAManagementAccountsTemplate(t *testing.T) {
	_, err := guardrail.Check(example, roleOpts, nil)
	if err == nil || !strings.Contains(err.Error(), "p-examplepolicy") || !strings.Contains(err.Error(), "policy file") {
		t.Fatalf("an organization policy on a management account: %v", err)
	}
	var big ovm.Guardrails
	for i := range 400 {
		big.DenyActions = append(big.DenyActions, fmt.Sprintf("ec2:Action%03d", i))
	}
	_, err = guardrail.Check(big, roleOpts, nil)
	if err == nil || !strings.Contains(err.Error(), "permissions boundary is") || !strings.Contains(err.Error(), "6144") {
		t.Fatalf("a boundary over the quota: %v", err)
	}
	// The example (without the organization's policy) fits.
	g := example
	g.Policies = nil
	d, err := guardrail.Check(g, roleOpts, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := guardrail.Boundary(d.JSON())
	t.Logf("the example's boundary: %d characters of %d; its inline deny %d", len(b), guardrail.MaxManagedPolicyChars, len(d.JSON()))
}
