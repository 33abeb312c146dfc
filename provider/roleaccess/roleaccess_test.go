package roleaccess_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/internal/federationtest"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

const mgmt = "arn:aws:iam::123456789012:root"

// standalone makes, in moto, a management account outside OVM's
// organization with the vended role the sign-up's role stack creates.
func standalone(t *testing.T, cfg aws.Config, acct string) *ovm.Account {
	t.Helper()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + mgmt + `"},"Action":"sts:AssumeRole"}]}`
	if _, err := admin(cfg, acct).CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String("OVMCrossAccountRole"),
		AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	return &ovm.Account{ID: "acc_1", AWSAccountID: acct, RoleARN: ovm.RoleARN(acct, "OVMCrossAccountRole")}
}

// admin is IAM in acct as the role stack's admin (not the vended role).
func admin(cfg aws.Config, acct string) *iam.Client {
	c := cfg.Copy()
	c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), "arn:aws:iam::"+acct+":role/stack-admin"))
	return iam.NewFromConfig(c)
}

// trustOf is the vended role's trust document, as an admin reads it.
func trustOf(t *testing.T, im *iam.Client) string {
	t.Helper()
	r, err := im.GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := url.QueryUnescape(aws.ToString(r.Role.AssumeRolePolicyDocument))
	return s
}

func direct(cfg aws.Config, fed *federation.Client) *roleaccess.Direct {
	base := sts.NewFromConfig(cfg)
	return &roleaccess.Direct{STS: base, AssumeWith: base, Fed: fed, RoleName: "OVMCrossAccountRole", Trust: []string{mgmt},
		Region: "us-east-1", IAMFor: func(creds aws.CredentialsProvider) roleaccess.IAM {
			c := cfg.Copy()
			c.Credentials = creds
			return iam.NewFromConfig(c)
		}}
}

func TestAManagementAccountsRoleGivesAndTakesBackAccess(t *testing.T) {
	cfg := mototest.Require(t).Config()
	ctx := context.Background()
	a := standalone(t, cfg, "333333333333")
	fed := federationtest.New(t)
	d := direct(cfg, federation.New(federation.Config{Endpoint: fed.Endpoint()}, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))

	c, err := d.Credentials(ctx, a, ovm.SessionRequest{LeaseID: "lse_1", Owner: "alice", Duration: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	lessee := cfg.Copy()
	lessee.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	who, err := sts.NewFromConfig(lessee).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Account) != "333333333333" || !strings.HasSuffix(aws.ToString(who.Arn), "assumed-role/OVMCrossAccountRole/ovm-alice") {
		t.Fatalf("lessee %v %v", who, err)
	}
	if d := time.Until(c.Expiration); d < 19*time.Minute || d > 21*time.Minute {
		t.Fatalf("session of %s, want the lease's 20m", d)
	}
	if u, err := d.ConsoleURL(ctx, c, "", 20*time.Minute); err != nil || !strings.HasPrefix(u, fed.Endpoint()) {
		t.Fatalf("console %q %v", u, err)
	}

	// Look at the role with an administrator's session of the account.
	im := admin(cfg, "333333333333")
	trust := func() string { return trustOf(t, im) }
	ci := "arn:aws:iam::210987654321:role/ci"
	if err := d.Grant(ctx, a, ci); err != nil || !strings.Contains(trust(), ci) {
		t.Fatalf("grant: %v, trust %s", err, trust())
	}
	end := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for range 2 {
		if r, err := d.Revoke(ctx, a, ovm.Revocation{LeaseID: "lse_1", Before: end, Principal: ci}); err != nil || r.Status != ovm.StepDone {
			t.Fatalf("revoke: %+v %v", r, err)
		}
	}
	if strings.Contains(trust(), ci) || !strings.Contains(trust(), "sts:SetSourceIdentity") {
		t.Fatalf("trust after the lease: %s", trust())
	}
	pol, err := im.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"), PolicyName: aws.String(roleaccess.PolicyName)})
	if doc, _ := url.QueryUnescape(aws.ToString(pol.PolicyDocument)); err != nil || !strings.Contains(doc, `"aws:TokenIssueTime":"2026-11-30T12:00:00Z"`) {
		t.Fatalf("deny %s %v", doc, err)
	}
}

func TestTheTrustAndTheDenyDocuments(t *testing.T) {
	got := roleaccess.TrustPolicy("arn:aws:iam::2:root", "arn:aws:iam::1:root", "arn:aws:iam::2:root")
	if got != `{"Statement":[{"Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"],"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:root","arn:aws:iam::2:root"]}}],"Version":"2012-10-17"}` {
		t.Fatalf("trust %s", got)
	}
	if !roleaccess.Chained("arn:aws:sts::1:assumed-role/ovm/i-1") || roleaccess.Chained("arn:aws:iam::1:user/ovm") {
		t.Fatal("chained")
	}
}

// The deny names whole seconds: a session issued in the lease's last
// second must be covered, so the lease's end is rounded up.
func TestTheDenyCoversTheLeasesLastSecond(t *testing.T) {
	end := time.Date(2026, 12, 1, 0, 16, 31, 746000000, time.UTC)
	if doc := roleaccess.RevokePolicy(end); !strings.Contains(doc, `"aws:TokenIssueTime":"2026-12-01T00:16:32Z"`) {
		t.Fatalf("deny %s", doc)
	}
	whole := time.Date(2026, 12, 1, 0, 16, 31, 0, time.UTC)
	if got := roleaccess.DenyTime(whole); !got.Equal(whole) {
		t.Fatalf("a whole second moved: %s", got)
	}
}

// A management account's freeze on moto: the lease's principal is no
// longer trusted, sessions issued before the freeze are denied; the
// unfreeze trusts the principal again, and the deny stays.
func TestAManagementAccountsFreezeDropsThePrincipalAndDeniesOlderSessions(t *testing.T) {
	cfg := mototest.Require(t).Config()
	ctx := context.Background()
	a := standalone(t, cfg, "444444444444")
	d := direct(cfg, nil)
	im := admin(cfg, "444444444444")
	trust := func() string { return trustOf(t, im) }
	ci := "arn:aws:iam::210987654321:role/ci"
	if err := d.Grant(ctx, a, ci); err != nil {
		t.Fatal(err)
	}
	// The lessee made a policy of the frozen boundary's name first, one
	// that would deny OVM too: the freeze corrects it, never attaches it.
	if _, err := im.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(roleaccess.FrozenBoundary),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 5, 9, 30, 0, 0, time.UTC)
	for range 2 { // converges
		res, err := d.Freeze(ctx, a, ovm.Freeze{LeaseID: "lse_1", At: at, Principal: ci, Stop: true})
		if err != nil || !strings.Contains(res.Report, "nothing stopped") || len(res.Stopped) != 0 {
			t.Fatalf("freeze: %+v %v", res, err)
		}
	}
	if strings.Contains(trust(), ci) {
		t.Fatalf("the lease's principal is still trusted while frozen: %s", trust())
	}
	boundary := func() string {
		r, err := im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")})
		if err != nil {
			t.Fatal(err)
		}
		if r.Role.PermissionsBoundary == nil {
			return ""
		}
		return aws.ToString(r.Role.PermissionsBoundary.PermissionsBoundaryArn)
	}
	if got := boundary(); got != "arn:aws:iam::444444444444:policy/"+roleaccess.FrozenBoundary {
		t.Fatalf("the frozen role's boundary is %q", got)
	}
	pv, err := im.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String("arn:aws:iam::444444444444:policy/" + roleaccess.FrozenBoundary)})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := im.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: pv.Policy.Arn, VersionId: pv.Policy.DefaultVersionId})
	if d, _ := url.QueryUnescape(aws.ToString(doc.PolicyVersion.Document)); err != nil || !strings.Contains(d, "iam:DeleteRolePermissionsBoundary") ||
		strings.Contains(d, `"*"`) || strings.Contains(d, "Deny") {
		t.Fatalf("the boundary allows more than OVM's upkeep of the role: %s %v", d, err)
	}
	pol, err := im.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"), PolicyName: aws.String(roleaccess.PolicyName)})
	if doc, _ := url.QueryUnescape(aws.ToString(pol.PolicyDocument)); err != nil || !strings.Contains(doc, `"aws:TokenIssueTime":"2026-12-05T09:30:00Z"`) {
		t.Fatalf("the freeze's deny: %s %v", doc, err)
	}
	if err := d.Unfreeze(ctx, a, ovm.Freeze{LeaseID: "lse_1", Principal: ci}); err != nil || !strings.Contains(trust(), ci) || boundary() != "" {
		t.Fatalf("unfreeze: %v, trust %s, boundary %q", err, trust(), boundary())
	}
	if _, err := im.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"), PolicyName: aws.String(roleaccess.PolicyName)}); err != nil {
		t.Fatalf("the unfreeze removed the deny of older sessions: %v", err)
	}
}
