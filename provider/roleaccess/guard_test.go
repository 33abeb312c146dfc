package roleaccess_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/guardrail"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/provider/providertest"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// A management account's guardrails on moto: the inline deny and the
// boundary (a policy per template and version) on the vended role, put
// back when removed or changed outside OVM, kept through a freeze, and
// all taken off by the unguard; the lease's own principal is trusted only
// with a source identity. moto stores these documents but enforces none:
// what the lessee is denied is shown by the documents (package guardrail's
// tests), not by a refused call.
func TestAManagementAccountsGuardrailsAreABoundaryAndAnInlineDenyOnTheRole(t *testing.T) {
	cfg := mototest.Require(t).Config()
	ctx := context.Background()
	const acct = "555555555555"
	a := standalone(t, cfg, acct)
	d := direct(cfg, nil)
	im := admin(cfg, acct)

	doc, err := guardrail.Check(ovm.Guardrails{Regions: []string{"eu-west-1"}, InstanceTypes: []string{"t3.*"}},
		guardrail.Options{ExemptRole: "OVMCrossAccountRole", OnRole: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := ovm.Guard{Template: "small", Version: doc.Hash(), Document: doc.JSON()}
	a.State, a.LeaseID = ovm.AccountLeased, "lse_1"
	a.Progress = map[string]string{ovm.ProgressGuardTemplate: g.Template, ovm.ProgressGuardVersion: g.Version, ovm.ProgressGuarded: g.Version}
	boundaryARN := "arn:aws:iam::" + acct + ":policy/OVMGuard-small-" + g.Version

	role := func() *iam.GetRoleOutput {
		r, err := im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	boundary := func() string {
		if b := role().Role.PermissionsBoundary; b != nil {
			return aws.ToString(b.PermissionsBoundaryArn)
		}
		return ""
	}
	inline := func() string {
		p, err := im.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"), PolicyName: aws.String(roleaccess.GuardPolicyName)})
		if err != nil {
			return ""
		}
		s, _ := url.QueryUnescape(aws.ToString(p.PolicyDocument))
		return s
	}
	check := func(want string) {
		t.Helper()
		got, err := d.GuardCheck(ctx, a, g)
		if err != nil || !strings.Contains(got, want) || (want == "" && got != "") {
			t.Fatalf("GuardCheck: %q %v, want %q", got, err, want)
		}
	}

	for range 2 { // converges
		if err := d.Guard(ctx, a, g); err != nil {
			t.Fatal(err)
		}
	}
	if !roleaccess.SamePolicy(inline(), g.Document) || boundary() != boundaryARN {
		t.Fatalf("after Guard: inline %s, boundary %q", inline(), boundary())
	}
	pv, err := im.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(boundaryARN)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := im.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(boundaryARN), VersionId: pv.Policy.DefaultVersionId})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := guardrail.Boundary(g.Document)
	if got, _ := url.QueryUnescape(aws.ToString(v.PolicyVersion.Document)); !roleaccess.SamePolicy(got, want) || !strings.Contains(got, "OVMAllowWithinGuardrails") {
		t.Fatalf("the boundary policy: %s", got)
	}
	check("")

	// The lease's own principal: trusted only when it sets a source
	// identity, which the denies bind.
	ci := "arn:aws:iam::210987654321:role/ci"
	if err := d.Grant(ctx, a, ci); err != nil {
		t.Fatal(err)
	}
	trust, _ := url.QueryUnescape(aws.ToString(role().Role.AssumeRolePolicyDocument))
	if !strings.Contains(trust, `"Condition":{"Null":{"sts:SourceIdentity":"false"}}`) || !strings.Contains(trust, ci) {
		t.Fatalf("a guarded lease's principal is trusted without a source identity: %s", trust)
	}
	if changed, err := roleaccess.RepairTrust(ctx, im, "OVMCrossAccountRole"); err != nil || changed {
		t.Fatalf("the trust repair rewrote the guarded trust (dropping its condition): %v %v", changed, err)
	}

	// Changed outside OVM: the deny and the boundary taken off, the
	// boundary's document replaced; each is found, and Guard puts it back.
	if _, err := im.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"), PolicyName: aws.String(roleaccess.GuardPolicyName)}); err != nil {
		t.Fatal(err)
	}
	if _, err := im.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: aws.String("OVMCrossAccountRole")}); err != nil {
		t.Fatal(err)
	}
	check("the inline deny OVMGuardrails is missing; the role has no permissions boundary")
	if _, err := im.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(boundaryARN), SetAsDefault: true,
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	check("the boundary policy OVMGuard-small-" + g.Version + " was changed")
	if err := d.Guard(ctx, a, g); err != nil {
		t.Fatal(err)
	}
	check("")

	// A freeze swaps the boundary for the frozen one; the unfreeze puts
	// the guardrails' back. (Nothing checks the guardrails while frozen:
	// the frozen boundary binds OVM's own sessions too, which moto does
	// not show; the engine's drift check leaves frozen accounts alone.)
	a.Progress[ovm.ProgressFrozen] = "lse_1"
	if _, err := d.Freeze(ctx, a, ovm.Freeze{LeaseID: "lse_1", At: time.Now(), Principal: ci}); err != nil {
		t.Fatal(err)
	}
	if got := boundary(); got != "arn:aws:iam::"+acct+":policy/"+roleaccess.FrozenBoundary {
		t.Fatalf("frozen boundary: %q", got)
	}
	if err := d.Unfreeze(ctx, a, ovm.Freeze{LeaseID: "lse_1", Principal: ci}); err != nil || boundary() != boundaryARN {
		t.Fatalf("unfreeze: %v, boundary %q", err, boundary())
	}
	delete(a.Progress, ovm.ProgressFrozen)
	check("")

	// The unguard takes all of it off, and converges.
	for range 2 {
		res, err := d.Unguard(ctx, a, ovm.Guard{Template: g.Template, Version: g.Version})
		if err != nil || res.Status != ovm.StepDone {
			t.Fatalf("unguard: %+v %v", res, err)
		}
	}
	if inline() != "" || boundary() != "" {
		t.Fatalf("after the unguard: inline %q, boundary %q", inline(), boundary())
	}
	if _, err := im.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(boundaryARN)}); err == nil {
		t.Fatal("the boundary policy outlived the unguard")
	}
	if err := d.Guard(ctx, a, ovm.Guard{Template: "x", Version: "ids", PolicyIDs: []string{"p-aaaaaaaa1"}}); err == nil {
		t.Fatal("an organization's policy was accepted on a management account")
	}
}

// mgmtAccounts stands in for the signup provider in the guardrail cases
// of the conformance suite: its Create makes a management account in moto
// (an account id of its own with the vended role the role stack makes),
// with no sign-up; every other step is done at once. It fills no gap of
// moto's: it spares the cases a sign-up in a browser per account, which
// the guardrails do not depend on (provider/signup runs the rest of the
// suite that way).
type mgmtAccounts struct {
	*roleaccess.Direct
	t        *testing.T
	cfg      aws.Config
	mu       sync.Mutex
	accounts []string
}

func (m *mgmtAccounts) Reserve(id string) (string, string) { return "ovm-" + id, id + "@example.com" }

func (m *mgmtAccounts) Create(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	m.mu.Lock()
	acct := fmt.Sprintf("7%011d", len(m.accounts)+1)
	m.accounts = append(m.accounts, acct)
	m.mu.Unlock()
	standalone(m.t, m.cfg, acct)
	return ovm.StepResult{Status: ovm.StepDone, AWSAccountID: acct, ExternalRef: "moto:" + acct}, nil
}

func (m *mgmtAccounts) Bootstrap(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	return ovm.StepResult{Status: ovm.StepDone, RoleARN: ovm.RoleARN(a.AWSAccountID, "OVMCrossAccountRole")}, nil
}

func (m *mgmtAccounts) Close(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	return ovm.StepResult{Status: ovm.StepDone}, nil
}

// flakyIAM fails the next PutRolePolicy when armed (FailNext("guard")).
type flakyIAM struct {
	*iam.Client
	fail *atomic.Bool
}

func (f flakyIAM) PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, o ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	if f.fail.CompareAndSwap(true, false) {
		return nil, errors.New("injected: IAM is unavailable")
	}
	return f.Client.PutRolePolicy(ctx, in, o...)
}

// The suite's guardrail cases on a management account's vended role: put
// on once whatever the retries, found when taken off by hand and put back,
// and taken off by the unguard, on that account only. A version is one
// policy per account (its boundary): Made counts the versions made, each
// once in each account (IAM refuses a second policy of a name).
func TestAManagementAccountsGuardrailsPassTheConformanceCases(t *testing.T) {
	providertest.RunGuard(t, func(t *testing.T) *providertest.Harness {
		cfg := mototest.Require(t).Config()
		fail := &atomic.Bool{}
		d := direct(cfg, nil)
		d.IAMFor = func(creds aws.CredentialsProvider) roleaccess.IAM {
			c := cfg.Copy()
			c.Credentials = creds
			return flakyIAM{Client: iam.NewFromConfig(c), fail: fail}
		}
		m := &mgmtAccounts{Direct: d, t: t, cfg: cfg}
		return &providertest.Harness{
			Provider: m,
			Advance:  func(time.Duration) {},
			FailNext: func(op string) {
				if op == "guard" {
					fail.Store(true)
				}
			},
			FailDefinitively: func(string, string) {},
			Guard: &providertest.GuardHarness{
				Attached: func(ctx context.Context, a *ovm.Account) (string, []string, error) {
					p, err := admin(cfg, a.AWSAccountID).GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"),
						PolicyName: aws.String(roleaccess.GuardPolicyName)})
					var nf *iamtypes.NoSuchEntityException
					if errors.As(err, &nf) {
						return "", nil, nil
					}
					if err != nil {
						return "", nil, err
					}
					doc, err := url.QueryUnescape(aws.ToString(p.PolicyDocument))
					return doc, nil, err
				},
				Made: func(ctx context.Context, template string) (int, error) {
					versions := map[string]bool{}
					m.mu.Lock()
					accounts := slices.Clone(m.accounts)
					m.mu.Unlock()
					for _, acct := range accounts {
						out, err := admin(cfg, acct).ListPolicies(ctx, &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeLocal})
						if err != nil {
							return 0, err
						}
						for _, p := range out.Policies {
							if name := aws.ToString(p.PolicyName); strings.HasPrefix(name, "OVMGuard-"+template+"-") {
								versions[name] = true
							}
						}
					}
					return len(versions), nil
				},
				TakeOff: func(ctx context.Context, a *ovm.Account, g ovm.Guard) error {
					c := admin(cfg, a.AWSAccountID)
					if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"),
						PolicyName: aws.String(roleaccess.GuardPolicyName)}); err != nil {
						return err
					}
					_, err := c.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: aws.String("OVMCrossAccountRole")})
					return err
				},
			},
		}
	})
}
