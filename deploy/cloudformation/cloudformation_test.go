package cloudformation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/iampolicy"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/internal/testtool"
	"github.com/ovmdev/ovm/provider/awsorgs"
	"github.com/ovmdev/ovm/store/dynamostore"
	"gopkg.in/yaml.v3"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// TestTemplatePassesCfnLint runs cfn-lint on the template, and on a broken
// copy to show the lint is not blind.
func TestTemplatePassesCfnLint(t *testing.T) {
	lint := testtool.Require(t, "cfn-lint", "make deps installs it (pip install cfn-lint)")
	if out, err := exec.Command(lint, "ovm.yaml").CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint ovm.yaml: %v\n%s", err, out)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	bad := strings.Replace(Template, "      KeySchema:\n        - {AttributeName: pk", "      KeySchemas:\n        - {AttributeName: pk", 1)
	if bad == Template {
		t.Fatal("the table's KeySchema is not where this test breaks it")
	}
	if err := os.WriteFile(broken, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(lint, broken).CombinedOutput(); err == nil {
		t.Fatalf("cfn-lint passed a table without its KeySchema:\n%s", out)
	}
}

// template is ovm.yaml decoded, its intrinsic functions' tags dropped
// (!Sub "x" reads as "x", !If [a, b, c] as the list).
func template(t *testing.T) map[string]any {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(Template), &root); err != nil {
		t.Fatal(err)
	}
	var strip func(n *yaml.Node)
	strip = func(n *yaml.Node) {
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			n.Tag = ""
		}
		for _, c := range n.Content {
			strip(c)
		}
	}
	strip(&root)
	var m map[string]any
	if err := root.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at walks a decoded template by keys.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestTableIsKeptWithPointInTimeRecovery: what moto's CloudFormation
// ignores, read from the template itself.
func TestTableIsKeptWithPointInTimeRecovery(t *testing.T) {
	tpl := template(t)
	table := at(tpl, "Resources", "Table")
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"DeletionPolicy"}, "Retain"},
		{[]string{"UpdateReplacePolicy"}, "Retain"},
		{[]string{"Properties", "BillingMode"}, "PAY_PER_REQUEST"},
		{[]string{"Properties", "DeletionProtectionEnabled"}, true},
		{[]string{"Properties", "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"}, true},
	} {
		if got := at(table, c.path...); got != c.want {
			t.Errorf("Table.%s = %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
}

// TestRetiringSCPIsTheProvidersOwn: the SCP the stack makes is the one
// provider/awsorgs would make and keep itself.
func TestRetiringSCPIsTheProvidersOwn(t *testing.T) {
	content := at(template(t), "Resources", "RetiringSCP", "Properties", "Content")
	b, _ := json.Marshal(content)
	got := strings.ReplaceAll(string(b), "arn:${AWS::Partition}:iam::*:role/${CreationRole}", "arn:aws:iam::*:role/OrganizationAccountAccessRole")
	p, err := awsorgs.New(awsorgs.Config{Pool: "members", EmailTemplate: "aws+{id}@example.com"}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var a, w any
	json.Unmarshal([]byte(got), &a)
	json.Unmarshal([]byte(p.RetiringSCP()), &w)
	if !reflect.DeepEqual(a, w) {
		t.Fatalf("the template's SCP\n%s\nis not provider/awsorgs'\n%s", got, p.RetiringSCP())
	}
}

// cfn speaks CloudFormation's query protocol to moto (the module has no
// CloudFormation client; the request is signed as the SDK would).
type cfn struct {
	url string
	cfg aws.Config
}

func (c *cfn) call(ctx context.Context, action string, v url.Values, out any) error {
	v.Set("Action", action)
	v.Set("Version", "2010-05-15")
	body := v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "cloudformation", c.cfg.Region, time.Now()); err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", action, res.Status, b)
	}
	return xml.Unmarshal(b, out)
}

type stackStatus struct {
	Stacks []struct {
		StackStatus, StackStatusReason string
	} `xml:"DescribeStacksResult>Stacks>member"`
}

type stackResources struct {
	Resources []struct {
		LogicalResourceId, PhysicalResourceId, ResourceType string
	} `xml:"DescribeStackResourcesResult>StackResources>member"`
}

// tableShape is what must match between two tables: keys, attributes,
// indexes and billing.
func tableShape(t *testing.T, ctx context.Context, db *dynamodb.Client, name string) string {
	t.Helper()
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	var parts []string
	for _, k := range d.KeySchema {
		parts = append(parts, fmt.Sprintf("key %s %s", *k.AttributeName, k.KeyType))
	}
	for _, a := range d.AttributeDefinitions {
		parts = append(parts, fmt.Sprintf("attr %s %s", *a.AttributeName, a.AttributeType))
	}
	for _, g := range d.GlobalSecondaryIndexes {
		s := "gsi " + *g.IndexName
		for _, k := range g.KeySchema {
			s += fmt.Sprintf(" %s %s", *k.AttributeName, k.KeyType)
		}
		parts = append(parts, s+" "+string(g.Projection.ProjectionType))
	}
	if d.BillingModeSummary != nil {
		parts = append(parts, "billing "+string(d.BillingModeSummary.BillingMode))
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

const stack = "ovm-test"

// params are the stack's parameters in the moto test.
var params = map[string]string{"Runtime": "none", "EmailTemplate": "aws+{id}@example.com", "PoolName": "members",
	"StockTarget": "2", "StockCeiling": "5", "CloseQuota": "10", "ParentOU": "", "RetiringOU": "",
	"CreationRole": "OrganizationAccountAccessRole", "VendedRoleName": "CrossAccountRole"}

// sub replaces the template's ${...} references in s with values; it fails
// t when one is left.
func sub(t *testing.T, s string, values map[string]string) string {
	t.Helper()
	s = regexp.MustCompile(`\$\{([A-Za-z:]+)\}`).ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := values[name]; ok {
			return v
		}
		if v, ok := params[name]; ok {
			return v
		}
		t.Fatalf("no value for %s", m)
		return ""
	})
	return s
}

// TestStackOnMotoRunsOVM creates the stack without the service (Runtime
// none) on moto's CloudFormation, checks that its table is the one
// dynamostore makes and its role's policy the one iampolicy generates, and
// then runs the real binary with the configuration file the stack writes
// for its service, on that table, with the organizations provider against
// moto's organization, until it vends an account.
func TestStackOnMotoRunsOVM(t *testing.T) {
	moto := mototest.Require(t)
	ctx := mototest.WithContext(t)
	cfg := moto.Config()
	cf := &cfn{url: moto.URL, cfg: cfg}

	v := url.Values{"StackName": {stack}, "TemplateBody": {Template}, "Capabilities.member.1": {"CAPABILITY_NAMED_IAM"}}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		v.Set(fmt.Sprintf("Parameters.member.%d.ParameterKey", i+1), k)
		v.Set(fmt.Sprintf("Parameters.member.%d.ParameterValue", i+1), params[k])
	}
	var created struct{}
	if err := cf.call(ctx, "CreateStack", v, &created); err != nil {
		t.Fatal(err)
	}
	var st stackStatus
	for i := 0; ; i++ {
		if err := cf.call(ctx, "DescribeStacks", url.Values{"StackName": {stack}}, &st); err != nil {
			t.Fatal(err)
		}
		if len(st.Stacks) == 1 && !strings.HasSuffix(st.Stacks[0].StackStatus, "_IN_PROGRESS") || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(st.Stacks) != 1 || st.Stacks[0].StackStatus != "CREATE_COMPLETE" {
		t.Fatalf("stack: %+v", st)
	}
	var res stackResources
	if err := cf.call(ctx, "DescribeStackResources", url.Values{"StackName": {stack}}, &res); err != nil {
		t.Fatal(err)
	}
	physical := map[string]string{}
	for _, r := range res.Resources {
		physical[r.LogicalResourceId] = r.PhysicalResourceId
	}
	for _, want := range []string{"Table", "Policy", "Role", "InstanceProfile"} {
		if physical[want] == "" {
			t.Fatalf("the stack made no %s: %+v", want, res.Resources)
		}
	}
	for _, unwanted := range []string{"Service", "AdminKey", "Config", "RetiringSCP"} {
		if physical[unwanted] != "" {
			t.Errorf("Runtime none without a retiring OU made %s", unwanted)
		}
	}
	table := physical["Table"]
	if table != stack+"-store" {
		t.Errorf("table %q is not named after the stack", table)
	}

	// The table is the one dynamostore makes.
	db := dynamodb.NewFromConfig(cfg)
	if _, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: "reference", CreateTable: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := tableShape(t, ctx, db, table), tableShape(t, ctx, db, "reference"); got != want {
		t.Fatalf("the stack's table differs from dynamostore's:\n%s\nwant\n%s", got, want)
	}

	// The role's policy is the one iampolicy generates for the stack.
	ic := iam.NewFromConfig(cfg)
	pol, err := ic.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(physical["Policy"])})
	if err != nil {
		t.Fatal(err)
	}
	ver, err := ic.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: pol.Policy.Arn, VersionId: pol.Policy.DefaultVersionId})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := url.QueryUnescape(aws.ToString(ver.PolicyVersion.Document))
	values := map[string]string{"AWS::Partition": "aws", "AWS::Region": cfg.Region, "AWS::AccountId": "123456789012",
		"AWS::StackName": stack, "Table": table}
	want := sub(t, string(iampolicy.For(iampolicy.Template).JSON()), values)
	var gotP, wantP iampolicy.Policy
	if err := json.Unmarshal([]byte(doc), &gotP); err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	json.Unmarshal([]byte(want), &wantP)
	if !reflect.DeepEqual(gotP, wantP) {
		t.Fatalf("the deployed policy\n%s\nis not the generated one\n%s", doc, want)
	}
	role, err := ic.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(physical["Role"])})
	if err != nil {
		t.Fatal(err)
	}
	if trust, _ := url.QueryUnescape(aws.ToString(role.Role.AssumeRolePolicyDocument)); !strings.Contains(trust, "ec2.amazonaws.com") {
		t.Errorf("with Runtime none the role should trust EC2: %s", trust)
	}
	attached, err := ic.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: role.Role.RoleName})
	if err != nil || len(attached.AttachedPolicies) != 1 || aws.ToString(attached.AttachedPolicies[0].PolicyArn) != physical["Policy"] {
		t.Fatalf("the role's policies: %+v %v", attached, err)
	}

	// dynamostore opens the stack's table as it is (no CreateTable) and
	// keeps an API key in it.
	store, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	k, secret, err := ovm.NewAPIKey("ci", ovm.RoleUser, time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.KeyCreate(ctx, k); err != nil {
		t.Fatal(err)
	}
	if got, err := store.KeyGetByHash(ctx, ovm.HashKey(secret)); err != nil || got.ID != k.ID {
		t.Fatalf("the key is not kept: %+v %v", got, err)
	}

	runOVM(t, moto, table)
}

// runOVM runs `ovm serve` with the configuration the stack writes to SSM
// for its service (the Config resource, its references filled in as
// CloudFormation would), the endpoint pointed at moto, and the admin key
// in the form the stack's secret and first container give it; it vends an
// account of the stack's pool through GET /vend.
func runOVM(t *testing.T, moto *mototest.Server, table string) {
	ctx := mototest.WithContext(t)
	orgs := organizations.NewFromConfig(moto.Config())
	if _, err := orgs.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	value, ok := at(template(t), "Resources", "Config", "Properties", "Value").([]any)
	if !ok || len(value) != 2 {
		t.Fatalf("Config's value is not !Sub [text, variables]: %#v", value)
	}
	config := sub(t, value[0].(string), map[string]string{"AWS::Region": "us-east-1", "AWS::StackName": stack, "Table": table, "Retiring": "",
		"Public": "https://ovm.example.com"})
	config = strings.Replace(config, "aws: {region: us-east-1}", "aws: {region: us-east-1, endpoint: \""+moto.URL+"\"}", 1)

	dir := t.TempDir()
	bin := filepath.Join(dir, "ovm")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ovm")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfgPath, data := filepath.Join(dir, "ovm.yaml"), filepath.Join(dir, "data")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// The stack's secret: 43 letters and digits; its first container
	// writes ovm_ and them to /data/admin.key.
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	body := make([]byte, 43)
	for i := range body {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		body[i] = alnum[n.Int64()]
	}
	key := "ovm_" + string(body)
	os.MkdirAll(data, 0o700)
	if err := os.WriteFile(filepath.Join(data, "admin.key"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logs strings.Builder
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--data", data, "--listen", addr)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("ovm serve:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/vend", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				var v struct{ AccountID, CrossAccountRole string }
				if err := json.Unmarshal(b, &struct {
					AccountID        *string `json:"account_id"`
					CrossAccountRole *string `json:"cross_account_role"`
				}{&v.AccountID, &v.CrossAccountRole}); err != nil {
					t.Fatal(err)
				}
				if want := "arn:aws:iam::" + v.AccountID + ":role/" + stack + "-CrossAccountRole"; v.CrossAccountRole != want {
					t.Fatalf("vended role %q, want %q", v.CrossAccountRole, want)
				}
				t.Logf("vended %s from the stack's table", v.AccountID)
				break
			}
			if res.StatusCode == http.StatusUnauthorized {
				t.Fatalf("the stack's admin key was refused: %s", b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no vend within 2 minutes; last: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The pool's accounts are in the stack's table, tagged with its pool.
	accts, err := orgs.ListAccounts(ctx, &organizations.ListAccountsInput{})
	if err != nil {
		t.Fatal(err)
	}
	tagged := 0
	for _, a := range accts.Accounts {
		tags, err := orgs.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: a.Id})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range tags.Tags {
			if aws.ToString(tg.Key) == iampolicy.TagPool && aws.ToString(tg.Value) == stack+"-members" {
				tagged++
			}
		}
	}
	if tagged == 0 {
		t.Fatalf("no account carries %s=%s-members, the tag the role's CreateAccount and CloseAccount are tied to", iampolicy.TagPool, stack)
	}
}
