package awsorgs

import (
	"context"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/providertest"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// readyAccount creates and bootstraps an account of p in moto.
func readyAccount(t testing.TB, p *Provider) *ovm.Account {
	t.Helper()
	ctx := context.Background()
	a := providertest.NewAccount(p)
	r, err := p.Create(ctx, a)
	if err != nil || !ovm.IsAWSAccountID(r.AWSAccountID) {
		t.Fatalf("create: %+v %v", r, err)
	}
	a.AWSAccountID = r.AWSAccountID
	if r, err = p.Bootstrap(ctx, a); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("bootstrap: %+v %v", r, err)
	}
	a.RoleARN = r.RoleARN
	return a
}

// memberIAM is IAM inside a's account, through its creation role.
func memberIAM(p *Provider, cfg aws.Config, a *ovm.Account) *iam.Client {
	member := cfg.Copy()
	member.Credentials = p.assume(ovm.RoleARN(a.AWSAccountID, p.cfg.CreationRole), "verify", p.c.STS)
	return iam.NewFromConfig(member)
}

func TestALesseesCredentialsAreASessionOfTheVendedRoleInItsName(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	p := newProvider(t, Config{Region: "eu-west-1"}, NewClients(cfg), ovm.SystemClock())
	a := readyAccount(t, p)
	before := time.Now()
	c, err := p.Credentials(ctx, a, ovm.SessionRequest{LeaseID: "lse_1", Owner: "my-org/app", Duration: 10 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionName != "ovm-my-org-app" || c.SourceIdentity != "my-org-app" || c.Region != "eu-west-1" || c.RoleChained {
		t.Fatalf("credentials %v: session %s, identity %s, region %s, chained %v", c, c.SessionName, c.SourceIdentity, c.Region, c.RoleChained)
	}
	// The role's maximum (an hour) bounds a long lease's session.
	if d := c.Expiration.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("session of %s, want the role's hour", d)
	}
	// The credentials work, and STS says who they are: the leased account,
	// the vended role, the lessee's session.
	lessee := cfg.Copy()
	lessee.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	who, err := sts.NewFromConfig(lessee).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if deref(who.Account) != a.AWSAccountID || !strings.HasSuffix(deref(who.Arn), ":assumed-role/OVMCrossAccountRole/ovm-my-org-app") {
		t.Fatalf("caller %s in %s, want the lessee's session in %s", deref(who.Arn), deref(who.Account), a.AWSAccountID)
	}
	// A short lease gets STS's 15 minutes at least.
	c, err = p.Credentials(ctx, a, ovm.SessionRequest{LeaseID: "lse_1", Owner: "alice", Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Expiration.Sub(before); d < 14*time.Minute || d > 16*time.Minute {
		t.Fatalf("session of %s, want 15m", d)
	}
}

func TestTheEndOfALeaseRevokesItsAccessAndARecycledAccountComesBack(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	orgs := organizations.NewFromConfig(cfg)
	roots, err := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil {
		t.Fatal(err)
	}
	root := deref(roots.Roots[0].Id)
	ou, err := orgs.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: aws.String(root), Name: aws.String("retiring")})
	if err != nil {
		t.Fatal(err)
	}
	retiring := deref(ou.OrganizationalUnit.Id)
	p := newProvider(t, Config{RetiringOU: retiring}, NewClients(cfg), ovm.SystemClock())
	a := readyAccount(t, p)
	im := memberIAM(p, cfg, a)
	trust := func() string {
		role, err := im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(p.cfg.RoleName)})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := url.QueryUnescape(deref(role.Role.AssumeRolePolicyDocument))
		return s
	}

	// A lease's own principal is trusted during the lease.
	ci := "arn:aws:iam::210987654321:role/ci"
	if err := p.Grant(ctx, a, ci); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(trust(), ci) || !strings.Contains(trust(), "sts:SetSourceIdentity") {
		t.Fatalf("trust during the lease: %s", trust())
	}

	end := time.Date(2026, 11, 30, 12, 34, 56, 0, time.UTC)
	for round := range 2 { // the second run converges on what the first did
		r, err := p.Revoke(ctx, a, ovm.Revocation{LeaseID: "lse_1", Before: end, Principal: ci})
		if err != nil || r.Status != ovm.StepDone || !strings.Contains(r.Report, retiring) {
			t.Fatalf("revoke %d: %+v %v", round, r, err)
		}
	}
	// The documents OVM wrote (moto does not enforce IAM conditions or SCPs).
	pol, err := im.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(p.cfg.RoleName), PolicyName: aws.String(roleaccess.PolicyName)})
	if err != nil {
		t.Fatalf("no deny on the role: %v", err)
	}
	if doc, _ := url.QueryUnescape(deref(pol.PolicyDocument)); !samePolicy(doc, roleaccess.RevokePolicy(end)) ||
		!strings.Contains(doc, `"aws:TokenIssueTime":"2026-11-30T12:34:56Z"`) || !strings.Contains(doc, `"DateLessThan"`) {
		t.Fatalf("deny %s", doc)
	}
	if strings.Contains(trust(), ci) || !samePolicy(trust(), p.trustPolicy("123456789012")) {
		t.Fatalf("trust after the lease: %s", trust())
	}
	parents, _ := orgs.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(a.AWSAccountID)})
	if deref(parents.Parents[0].Id) != retiring {
		t.Fatalf("the account is under %s, not the retiring OU", deref(parents.Parents[0].Id))
	}
	scps, err := orgs.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(retiring),
		Filter: types.PolicyTypeServiceControlPolicy})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range scps.Policies {
		names = append(names, deref(s.Name))
		if deref(s.Name) == "ovm-retiring-conformance" {
			d, _ := orgs.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: s.Id})
			if !samePolicy(deref(d.Policy.Content), p.RetiringSCP()) || !strings.Contains(deref(d.Policy.Content), "role/OrganizationAccountAccessRole") {
				t.Fatalf("SCP %s", deref(d.Policy.Content))
			}
		}
	}
	sort.Strings(names)
	if !strings.Contains(strings.Join(names, ","), "ovm-retiring-conformance") {
		t.Fatalf("SCPs of the retiring OU: %v", names)
	}

	// Recycling: resetting the role keeps the deny; the account goes back
	// under the root before it is ready.
	if err := p.resetRole(ctx, im, "123456789012"); err != nil {
		t.Fatal(err)
	}
	if _, err := im.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(p.cfg.RoleName), PolicyName: aws.String(roleaccess.PolicyName)}); err != nil {
		t.Fatalf("a cleaning removed the deny of the last lease's sessions: %v", err)
	}
	if err := p.leaveRetiringOU(ctx, a); err != nil {
		t.Fatal(err)
	}
	parents, _ = orgs.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(a.AWSAccountID)})
	if deref(parents.Parents[0].Id) != root {
		t.Fatalf("a recycled account is under %s, not back under the root", deref(parents.Parents[0].Id))
	}
}

func TestAnOperatorsRetiringSCPMustBeAttached(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	orgs := organizations.NewFromConfig(cfg)
	roots, _ := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
	ou, err := orgs.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: roots.Roots[0].Id, Name: aws.String("retiring")})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := orgs.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String("their-scp"), Description: aws.String("x"),
		Type: types.PolicyTypeServiceControlPolicy, Content: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	id := deref(pol.Policy.PolicySummary.Id)
	p := newProvider(t, Config{RetiringOU: deref(ou.OrganizationalUnit.Id), RetiringSCP: id}, NewClients(cfg), ovm.SystemClock())
	a := readyAccount(t, p)
	r, err := p.Revoke(ctx, a, ovm.Revocation{LeaseID: "lse_1", Before: time.Now()})
	if err == nil || !strings.Contains(err.Error(), id+" (organizations.retiring_scp) is not attached") {
		t.Fatalf("revoke with a detached SCP: %+v %v", r, err)
	}
	if _, err := orgs.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: aws.String(id), TargetId: ou.OrganizationalUnit.Id}); err != nil {
		t.Fatal(err)
	}
	if r, err := p.Revoke(ctx, a, ovm.Revocation{LeaseID: "lse_1", Before: time.Now()}); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("revoke with the SCP attached: %+v %v", r, err)
	}
	// OVM checks an operator's SCP, never changes it.
	d, _ := orgs.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(id)})
	if strings.Contains(deref(d.Policy.Content), "OrganizationAccountAccessRole") {
		t.Fatal("OVM changed the operator's SCP")
	}
}

// BenchmarkCredentials measures issuing a lessee's credentials against
// moto (one AssumeRole); `make bench` reports p50/p99.
func BenchmarkCredentials(b *testing.B) {
	cfg := motoOrg(b)
	p := newProvider(b, Config{}, NewClients(cfg), ovm.SystemClock())
	a := readyAccount(b, p)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := p.Credentials(ctx, a, ovm.SessionRequest{LeaseID: "lse_1", Owner: "alice", Duration: time.Hour}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// A vended role bootstrapped by an older OVM trusts its principals for
// sts:AssumeRole only, and STS would refuse the sessions OVM asks for
// (source identity, tags): RepairTrust upgrades it once, keeping its
// principals, and leaves a current trust alone.
func TestAnOldTrustIsRepairedOnceAndKeepsItsPrincipals(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	p := newProvider(t, Config{Region: "eu-west-1"}, NewClients(cfg), ovm.SystemClock())
	a := readyAccount(t, p)
	member := memberIAM(p, cfg, a)
	if ok, err := p.RepairTrust(ctx, a); ok || err != nil {
		t.Fatalf("a trust bootstrap wrote was repaired: %v %v", ok, err)
	}
	old := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123456789012:root","arn:aws:iam::210987654321:role/ci"]},"Action":"sts:AssumeRole"}]}`
	if _, err := member.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"),
		PolicyDocument: aws.String(old)}); err != nil {
		t.Fatal(err)
	}
	if ok, err := p.RepairTrust(ctx, a); !ok || err != nil {
		t.Fatalf("an old trust was not repaired: %v %v", ok, err)
	}
	role, err := member.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")})
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := url.QueryUnescape(deref(role.Role.AssumeRolePolicyDocument))
	if want := roleaccess.TrustPolicy("arn:aws:iam::123456789012:root", "arn:aws:iam::210987654321:role/ci"); !roleaccess.SamePolicy(doc, want) {
		t.Fatalf("repaired trust %s, want %s", doc, want)
	}
	if ok, err := p.RepairTrust(ctx, a); ok || err != nil {
		t.Fatalf("a repaired trust was repaired again: %v %v", ok, err)
	}
}
