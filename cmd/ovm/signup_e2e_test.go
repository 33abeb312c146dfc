package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/internal/testtool"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// buildTestProgram builds a program of testdata for the test.
func buildTestProgram(t *testing.T, pkg string) string {
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func TestASignupPoolFillsVendsAndRetiresByBurialThroughTheBinary(t *testing.T) {
	testtool.Require(t, "chromium", "make deps installs it")
	testtool.Require(t, "espeak-ng", "make deps installs it")
	moto := mototest.Require(t)
	cfg := moto.Config()
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(context.Background(),
		&s3.CreateBucketInput{Bucket: aws.String("ovm-mail")}); err != nil {
		t.Fatal(err)
	}
	solver := buildTestProgram(t, "../../provider/signup/testdata/digitsolver")
	replicaBin := buildTestProgram(t, "./testdata/replicaserver")

	dir := testtool.BrowserDir(t)
	ovmFile := filepath.Join(dir, "ovm-for-replica")
	// The replica also stands in for Amazon Connect (moto has no prompts or
	// flows): its verification call plays the number's flow and hears the
	// DTMF tones, so the PIN must travel OVM -> Connect flow -> prompts in S3.
	const instance = "arn:aws:connect:us-east-1:123456789012:instance/replica-0001"
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("ovm-connect")}); err != nil {
		t.Fatal(err)
	}
	rep := exec.Command(replicaBin, "--moto", moto.URL, "--ovm-file", ovmFile, "--aws-gateway",
		"--connect-instance", instance, "--connect-numbers", "+15550100")
	out, _ := rep.StdoutPipe()
	if err := rep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Process.Kill(); rep.Wait() })
	// OVM's AWS endpoint is the replica's gateway: moto, plus the graveyard
	// invitations and handshakes moto lacks (documented in gateway.go).
	lines := bufio.NewReader(out)
	gwLine, _ := lines.ReadString('\n')
	line, _ := lines.ReadString('\n')
	gateway := regexp.MustCompile(`http://\S+`).FindString(gwLine)
	repURL := regexp.MustCompile(`http://\S+`).FindString(line)
	if repURL == "" || gateway == "" {
		t.Fatalf("replica: %q %q", gwLine, line)
	}
	// OVM's own organization is the graveyard, with its OU.
	gy := organizations.NewFromConfig(cfg)
	if _, err := gy.CreateOrganization(context.Background(), &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	roots, _ := gy.ListRoots(context.Background(), &organizations.ListRootsInput{})
	ou, err := gy.CreateOrganizationalUnit(context.Background(), &organizations.CreateOrganizationalUnitInput{ParentId: roots.Roots[0].Id, Name: aws.String("graveyard")})
	if err != nil {
		t.Fatal(err)
	}

	data := filepath.Join(dir, "data")
	s := &server{t: t, dir: dir, cfg: filepath.Join(dir, "ovm.yaml")}
	os.WriteFile(s.cfg, []byte(fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
aws: {region: us-east-1, endpoint: %q}
secrets: {backend: secretsmanager, prefix: ovm-e2e/}
engine: {tick: 100ms, step_timeout: 50s, claim_ttl: 2m}
api: {default_template: guarded}
templates:
  - {name: guarded, pool: managers, guardrails: {regions: [us-east-1, eu-west-1]}}
pools:
  - name: managers
    provider: signup
    stock: {target: 1, min_spacing: 0s}
    lease: {min_ttl: 1s}
    retry: {max_attempts: 3, base_delay: 200ms, max_delay: 1s}
    signup:
      base_url: %s
      email_template: "root+{id}@example.com"
      trusted_principal: "arn:aws:iam::123456789012:root"
      phone_numbers: ["+15550100"]
      inbox: {s3_bucket: ovm-mail, s3_prefix: inbound/}
      captcha_solvers: [{command: [%q], for: [audio]}]
      page_timeout: 10s
      contact: {full_name: Ada Ops, company: Example Ltd, phone: "+3531555000", country: Ireland, address: 1 Main St, city: Dublin, state: Dublin, postal_code: D01}
      card: {number: "secret:card_number", month: "07", year: "2030", holder: Ada Ops}
      billing: {currency: EUR, email: billing@example.com}
      burial: {enabled: true, graveyard_ou: %s, close_quota: 5}
      connect: {instance_arn: %q, prompt_bucket: ovm-connect, answer_delay: 200ms}
      evidence: {s3_bucket: ovm-connect, s3_prefix: evidence/}
`, data, gateway, repURL, solver, aws.ToString(ou.OrganizationalUnit.Id), instance)), 0o600)
	awsEnv := []string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	// The operator puts the card in the vault (Secrets Manager) first.
	put := exec.Command(binPath, "secret", "put", "card_number", "--config", s.cfg)
	put.Env = append(os.Environ(), awsEnv...)
	put.Stdin = strings.NewReader("4111 1111 1111 1111\n")
	if b, err := put.CombinedOutput(); err != nil || !strings.Contains(string(b), "AWS Secrets Manager") {
		t.Fatalf("secret put: %v %s", err, b)
	}
	s.start(awsEnv...)
	os.WriteFile(ovmFile, []byte(s.url+" "+s.key), 0o600)
	t.Cleanup(func() {
		// A graceful stop closes the browsers before the directory goes.
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.waitExit(time.Minute)
		time.Sleep(time.Second) // Chromium's helpers end a moment after it
	})

	eventually(t, 3*time.Minute, "a signed-up account in stock", func() bool {
		var p client.Pool
		s.ovmJSON(&p, "pool", "status", "managers")
		return p.Ready == 1
	})
	// The pool reports its channels: the solver's answers, the number used.
	var p struct {
		Channels struct {
			Solvers map[string]struct{ Answers, Accepted int } `json:"captcha_solvers"`
			Phones  []struct {
				Number string
				Uses   int
				Busy   bool
				PIN    string `json:"pin"`
			} `json:"phone_numbers"`
		}
	}
	s.ovmJSON(&p, "pool", "status", "managers")
	if st := p.Channels.Solvers["command:digitsolver"]; st.Answers < 1 || st.Accepted < 1 {
		t.Fatalf("solver statistics in pool status: %+v", p.Channels)
	}
	if ph := p.Channels.Phones; len(ph) != 1 || ph[0].Uses < 1 || ph[0].Busy || ph[0].PIN != "" {
		t.Fatalf("phone numbers in pool status: %+v", ph)
	}
	// OVM set up Connect: the twelve prompts it generated are in S3.
	prompts, err := s3c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("ovm-connect"), Prefix: aws.String("ovm-prompts/")})
	if err != nil || len(prompts.Contents) != 12 {
		t.Fatalf("prompts in S3: %v", err)
	}
	r := s.do("GET", "/vend", s.key, "")
	m := vendRe.FindSubmatch(r.body)
	if r.status != 200 || m == nil {
		t.Fatalf("vend: %d %s", r.status, r.body)
	}
	var a client.Account
	s.ovmJSON(&a, "account", "get", string(m[1]))
	steps := 0
	for _, e := range a.Events {
		if strings.Contains(e.Reason, "step") && strings.Contains(e.Reason, "done") {
			steps++
		}
	}
	if steps < 10 {
		t.Fatalf("%d step reports in the event log", steps)
	}
	if strings.Contains(s.stderr.String(), "4111") {
		t.Fatal("the card number reached the log")
	}
	// The root password is in Secrets Manager, and nowhere in the store.
	pw, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(context.Background(),
		&secretsmanager.GetSecretValueInput{SecretId: aws.String("ovm-e2e/root-password/" + a.ID)})
	if err != nil || len(aws.ToString(pw.SecretString)) < 16 {
		t.Fatalf("root password in Secrets Manager: %v", err)
	}
	storeFile, _ := os.ReadFile(filepath.Join(data, "ovm.db"))
	walFile, _ := os.ReadFile(filepath.Join(data, "ovm.db-wal"))
	if len(storeFile) == 0 || strings.Contains(string(storeFile)+string(walFile), aws.ToString(pw.SecretString)) {
		t.Fatal("the root password is in the store file (or the store file is missing)")
	}
	// The lessee makes an Organization of its own in the account.
	lessee := cfg.Copy()
	lessee.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.CrossAccountRole))
	if _, err := organizations.NewFromConfig(lessee).CreateOrganization(context.Background(),
		&organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	var leases client.Page[client.Lease]
	s.ovmJSON(&leases, "lease", "list")
	// The template's guardrails are on the vended role before the vend
	// answered: its inline deny and its boundary, binding the lessee's
	// sessions (a source identity), not OVM's.
	roleIAM := iam.NewFromConfig(lessee)
	role, err := roleIAM.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")})
	if err != nil || role.Role.PermissionsBoundary == nil ||
		!strings.Contains(aws.ToString(role.Role.PermissionsBoundary.PermissionsBoundaryArn), ":policy/OVMGuard-guarded-") {
		t.Fatalf("the guarded lease's role has no guardrails boundary: %+v %v", role, err)
	}
	deny, err := roleIAM.GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"),
		PolicyName: aws.String(roleaccess.GuardPolicyName)})
	if doc, _ := url.QueryUnescape(aws.ToString(deny.PolicyDocument)); err != nil || !strings.Contains(doc, `"aws:SourceIdentity":["false"]`) ||
		!strings.Contains(doc, "eu-west-1") {
		t.Fatalf("the guarded lease's inline deny: %s %v", doc, err)
	}
	// The lessee's own credentials work in the management account.
	var cr client.Credentials
	s.ovmJSON(&cr, "lease", "credentials", leases.Items[0].ID)
	own := cfg.Copy()
	own.Credentials = credentials.NewStaticCredentialsProvider(cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken)
	if who, err := sts.NewFromConfig(own).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil ||
		aws.ToString(who.Account) != a.AccountID || !strings.Contains(aws.ToString(who.Arn), "/ovm-admin") {
		t.Fatalf("the lessee's credentials: %v %v", who, err)
	}
	if _, err := s.ovm("lease", "release", leases.Items[0].ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "the account buried", func() bool {
		s.ovmJSON(&a, "account", "get", string(m[1]))
		return a.State == "closed"
	})
	// Buried through the API: the lessee's organization deleted (moto), the
	// account joined the graveyard, moved to its OU and closed there under
	// the graveyard's ledger; the console was not used.
	var notInUse *orgtypes.AWSOrganizationsNotInUseException
	if _, err := organizations.NewFromConfig(lessee).DescribeOrganization(context.Background(), &organizations.DescribeOrganizationInput{}); !errors.As(err, &notInUse) {
		t.Fatalf("the lessee's organization is still there: %v", err)
	}
	res, err := http.Get(gateway + "/burials")
	if err != nil {
		t.Fatal(err)
	}
	var buried map[string]struct{ Parent, State string }
	json.NewDecoder(res.Body).Decode(&buried)
	res.Body.Close()
	if b := buried[a.AccountID]; b.State != "SUSPENDED" || b.Parent != aws.ToString(ou.OrganizationalUnit.Id) {
		t.Fatalf("in the graveyard: %+v", buried)
	}
	var pool client.Pool
	s.ovmJSON(&pool, "pool", "status", "managers")
	if len(pool.RecentCloses) != 1 || pool.RecentCloses[0].AccountID != a.AccountID {
		t.Fatalf("the graveyard's close ledger: %+v", pool.RecentCloses)
	}
	phases := 0
	for _, e := range a.Events {
		if strings.Contains(e.Reason, "graveyard") {
			phases++
		}
	}
	if phases < 2 {
		t.Fatalf("burial phases in the event log: %d", phases)
	}
	// The lease's access was revoked before the burial: the deny on the
	// vended role carries the lease's end.
	revoked := false
	for _, e := range a.Events {
		revoked = revoked || strings.Contains(e.Reason, "access of lease "+leases.Items[0].ID+" revoked")
	}
	var ended client.Lease
	s.ovmJSON(&ended, "lease", "get", leases.Items[0].ID)
	pol, err := iam.NewFromConfig(lessee).GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"),
		PolicyName: aws.String("OVMRevokeOlderSessions")})
	if doc, _ := url.QueryUnescape(aws.ToString(pol.PolicyDocument)); !revoked || err != nil || !strings.Contains(doc, roleaccess.DenyTime(ended.EndedAt.Add(ovm.DefaultClockMargin)).Format(time.RFC3339)) {
		t.Fatalf("revocation: event %v, deny %s %v", revoked, doc, err)
	}
	// And the guardrails were taken off after the revocation, before the
	// burial (the events are newest first).
	unguarded, revokedAt, buriedAt := -1, -1, -1
	for i, e := range a.Events {
		switch {
		case strings.Contains(e.Reason, "guardrails of template guarded") && strings.Contains(e.Reason, "taken off") && unguarded < 0:
			unguarded = i
		case strings.Contains(e.Reason, "access of lease "+leases.Items[0].ID+" revoked") && revokedAt < 0:
			revokedAt = i
		case strings.Contains(e.Reason, "graveyard") && buriedAt < 0:
			buriedAt = i
		}
	}
	if unguarded < 0 || unguarded > revokedAt || unguarded < buriedAt {
		t.Fatalf("unguard at event %d, revocation %d, burial %d (newest first)", unguarded, revokedAt, buriedAt)
	}
	if _, err := roleIAM.GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"),
		PolicyName: aws.String(roleaccess.GuardPolicyName)}); err == nil {
		t.Fatal("the guardrails' inline deny outlived the lease")
	}
}
