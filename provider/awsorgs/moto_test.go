package awsorgs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/cleaner/awsnuke"
	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/internal/accesstest"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/internal/federationtest"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/internal/testtool"
	"github.com/ovmdev/ovm/provider/providertest"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

var t0 = time.Now().UTC()

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// motoOrg resets moto, creates a fresh organization and returns its
// management account's config.
func motoOrg(t testing.TB) aws.Config {
	srv := mototest.Require(t)
	cfg := srv.Config()
	if _, err := organizations.NewFromConfig(cfg).CreateOrganization(context.Background(),
		&organizations.CreateOrganizationInput{FeatureSet: types.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func testLedger(t testing.TB) *sqlitestore.Store {
	s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newProvider(t testing.TB, cfg Config, c *Clients, clock ovm.Clock) *Provider {
	cfg.Pool = "conformance"
	if cfg.EmailTemplate == "" {
		cfg.EmailTemplate = "aws+{id}@example.com"
	}
	p, err := New(cfg, c, testLedger(t), clock, discard)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConformanceAgainstMoto runs the whole suite on moto: the steps, and
// ovm.Access (sessions from moto's STS, sign-in through the federation
// stand-in, which checks the credentials with moto) and ovm.Cleaner (the
// real aws-nuke against moto, over what a lessee left with its session).
func TestConformanceAgainstMoto(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		cfg := motoOrg(t)
		ctx := context.Background()
		in := newInjector()
		clock := clocktest.New(t0)
		p := newProvider(t, Config{PollInterval: time.Second}, in.wrap(NewClients(cfg)), clock)
		fed := federationtest.New(t)
		fed.Valid = func(c federationtest.Credentials) bool {
			_, err := accesstest.Account(ctx, cfg, &ovm.Credentials{AccessKeyID: c.ID, SecretAccessKey: c.Key, SessionToken: c.Token})
			return err == nil
		}
		p.SetFederation(federation.New(federation.Config{Endpoint: fed.Endpoint()}, nil, discard))
		p.SetNuker(&awsnuke.Runner{}, NukeConfig{Region: "us-east-1", Endpoint: aws.ToString(cfg.BaseEndpoint)})
		// member is the account's IAM and SQS as OVM's creation role sees them.
		member := func(a *ovm.Account) aws.Config {
			m := cfg.Copy()
			m.Credentials = p.assume(ovm.RoleARN(a.AWSAccountID, p.cfg.CreationRole), "conformance", p.c.STS)
			return m
		}
		return &providertest.Harness{
			Provider:         p,
			Advance:          clock.Advance,
			FailNext:         in.FailNext,
			FailDefinitively: in.FailDefinitively,
			Access: &providertest.AccessHarness{
				Now: time.Now, // moto issues sessions by the wall clock
				Trusted: func(ctx context.Context, a *ovm.Account) ([]string, error) {
					return accesstest.Trusted(ctx, iam.NewFromConfig(member(a)), p.cfg.RoleName)
				},
				Denied: func(ctx context.Context, a *ovm.Account, issued time.Time) (bool, error) {
					return accesstest.Denied(ctx, iam.NewFromConfig(member(a)), p.cfg.RoleName, issued)
				},
				Account: func(ctx context.Context, c *ovm.Credentials) (string, error) { return accesstest.Account(ctx, cfg, c) },
				SignIn:  fed.SignIn,
			},
			Clean: &providertest.CleanHarness{
				Requires: func(t testing.TB) {
					testtool.Require(t, "aws-nuke", "make deps installs it (apt-get install -y aws-nuke)")
				},
				// The lessee makes IAM users and SQS queues with its session.
				Litter: func(ctx context.Context, a *ovm.Account, c *ovm.Credentials) (int, error) {
					lessee := cfg.Copy()
					lessee.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
					for i := range 3 {
						name := aws.String(fmt.Sprintf("lessee-%d", i))
						if _, err := iam.NewFromConfig(lessee).CreateUser(ctx, &iam.CreateUserInput{UserName: name}); err != nil {
							return 0, err
						}
						if _, err := sqs.NewFromConfig(lessee).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: name}); err != nil {
							return 0, err
						}
					}
					return 6, nil
				},
				Leftovers: func(ctx context.Context, a *ovm.Account) (int, error) {
					m := member(a)
					users, err := iam.NewFromConfig(m).ListUsers(ctx, &iam.ListUsersInput{})
					if err != nil {
						return 0, err
					}
					queues, err := sqs.NewFromConfig(m).ListQueues(ctx, &sqs.ListQueuesInput{})
					if err != nil {
						return 0, err
					}
					return len(users.Users) + len(queues.QueueUrls), nil
				},
			},
			Guard: motoGuardHarness(organizations.NewFromConfig(cfg)),
		}
	})
}

// motoGuardHarness shows the SCPs moto keeps (it attaches them, and
// enforces none).
func motoGuardHarness(orgs *organizations.Client) *providertest.GuardHarness {
	attached := func(ctx context.Context, a *ovm.Account) ([]types.PolicySummary, error) {
		out, err := orgs.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(a.AWSAccountID),
			Filter: types.PolicyTypeServiceControlPolicy})
		if err != nil {
			return nil, err
		}
		return out.Policies, nil
	}
	return &providertest.GuardHarness{
		Attached: func(ctx context.Context, a *ovm.Account) (string, []string, error) {
			ps, err := attached(ctx, a)
			if err != nil {
				return "", nil, err
			}
			doc, ids := "", []string(nil)
			for _, s := range ps {
				switch name := deref(s.Name); {
				case strings.HasPrefix(name, guardPolicyPrefix):
					d, err := orgs.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: s.Id})
					if err != nil {
						return "", nil, err
					}
					doc = deref(d.Policy.Content)
				case name != "FullAWSAccess":
					ids = append(ids, deref(s.Id))
				}
			}
			return doc, ids, nil
		},
		Made: func(ctx context.Context, template string) (int, error) {
			out, err := orgs.ListPolicies(ctx, &organizations.ListPoliciesInput{Filter: types.PolicyTypeServiceControlPolicy})
			if err != nil {
				return 0, err
			}
			n := 0
			for _, s := range out.Policies {
				if strings.HasPrefix(deref(s.Name), guardPolicyPrefix+template+"-") {
					n++
				}
			}
			return n, nil
		},
		TakeOff: func(ctx context.Context, a *ovm.Account, g ovm.Guard) error {
			ps, err := attached(ctx, a)
			if err != nil {
				return err
			}
			for _, s := range ps {
				if deref(s.Name) != "FullAWSAccess" {
					if _, err := orgs.DetachPolicy(ctx, &organizations.DetachPolicyInput{PolicyId: s.Id, TargetId: aws.String(a.AWSAccountID)}); err != nil {
						return err
					}
				}
			}
			return nil
		},
		// The organization's own policy, made once per organization.
		OrgPolicy: func(ctx context.Context) (string, error) {
			out, err := orgs.ListPolicies(ctx, &organizations.ListPoliciesInput{Filter: types.PolicyTypeServiceControlPolicy})
			if err != nil {
				return "", err
			}
			for _, s := range out.Policies {
				if deref(s.Name) == "org-no-leaving" {
					return deref(s.Id), nil
				}
			}
			made, err := orgs.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String("org-no-leaving"), Description: aws.String("the organization's own"),
				Type:    types.PolicyTypeServiceControlPolicy,
				Content: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*"}]}`)})
			if err != nil {
				return "", err
			}
			return deref(made.Policy.PolicySummary.Id), nil
		},
	}
}

// TestTheVendedRoleExistsInTheMemberAccount checks a bootstrap with the
// member account's own credentials: the role, its trust and policy, the
// alias; and that close leaves the account SUSPENDED and in the ledger.
func TestTheVendedRoleExistsInTheMemberAccount(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	c := NewClients(cfg)
	p := newProvider(t, Config{TrustPrincipals: []string{"arn:aws:iam::210987654321:role/ci"}}, c, ovm.SystemClock())
	a := providertest.NewAccount(p)
	a.Pool = "members"
	r, err := p.Create(ctx, a)
	if err != nil || !ovm.IsAWSAccountID(r.AWSAccountID) {
		t.Fatalf("create: %+v %v", r, err)
	}
	a.AWSAccountID = r.AWSAccountID
	r, err = p.Bootstrap(ctx, a)
	if err != nil || r.Status != ovm.StepDone {
		t.Fatalf("bootstrap: %+v %v", r, err)
	}
	if r.RoleARN != ovm.RoleARN(a.AWSAccountID, "OVMCrossAccountRole") {
		t.Fatalf("role %s", r.RoleARN)
	}
	// Look with the member account's own credentials.
	member := cfg.Copy()
	member.Credentials = p.assume(ovm.RoleARN(a.AWSAccountID, "OrganizationAccountAccessRole"), "verify", c.STS)
	who, err := sts.NewFromConfig(member).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || deref(who.Account) != a.AWSAccountID {
		t.Fatalf("member identity %v %v", who, err)
	}
	im := iam.NewFromConfig(member)
	role, err := im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")})
	if err != nil {
		t.Fatalf("the vended role does not exist in %s: %v", a.AWSAccountID, err)
	}
	if !samePolicy(deref(role.Role.AssumeRolePolicyDocument), p.trustPolicy("123456789012")) {
		t.Fatalf("trust %s", deref(role.Role.AssumeRolePolicyDocument))
	}
	pols, _ := im.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("OVMCrossAccountRole")})
	if len(pols.AttachedPolicies) != 1 || deref(pols.AttachedPolicies[0].PolicyName) != "AdministratorAccess" {
		t.Fatalf("policies %+v", pols.AttachedPolicies)
	}
	aliases, _ := im.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
	if len(aliases.AccountAliases) != 1 || aliases.AccountAliases[0] != Alias(a) {
		t.Fatalf("aliases %v", aliases.AccountAliases)
	}
	// The account is tagged as OVM's.
	inv, err := p.Inventory(ctx)
	if err != nil || len(inv) != 1 || inv[0].AccountID != a.ID || inv[0].Pool != "members" || inv[0].State != "ACTIVE" {
		t.Fatalf("inventory %+v %v", inv, err)
	}
	// Bootstrapping again converges (a half-bootstrapped account too).
	if r, err := p.Bootstrap(ctx, a); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("second bootstrap: %+v %v", r, err)
	}
	// Close: SUSPENDED in moto, recorded in the ledger.
	for range 3 {
		if r, err = p.Close(ctx, a); err != nil || r.Status == ovm.StepDone {
			break
		}
	}
	if err != nil || r.Status != ovm.StepDone {
		t.Fatalf("close: %+v %v", r, err)
	}
	d, _ := c.Orgs.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(a.AWSAccountID)})
	if d.Account.State != types.AccountStateSuspended {
		t.Fatalf("moto reports %s", d.Account.State)
	}
	q, err := p.CloseQuota(ctx)
	if err != nil || q.Used != 1 || q.Limit != 10 {
		t.Fatalf("quota %+v %v", q, err)
	}
}

// TestALostCreateResponseIsFoundNotRepeated: AWS accepted CreateAccount but
// the answer never reached OVM (or OVM died before writing it down). The
// next start finds the account instead of creating a second one.
func TestALostCreateResponseIsFoundNotRepeated(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	p := newProvider(t, Config{}, NewClients(cfg), ovm.SystemClock())
	a := providertest.NewAccount(p)
	if _, err := p.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	// a.ExternalRef is still empty: the response was lost.
	r, err := p.Create(ctx, a)
	if err != nil || r.Status != ovm.StepDone {
		t.Fatalf("second start: %+v %v", r, err)
	}
	list, _ := organizations.NewFromConfig(cfg).ListAccounts(ctx, &organizations.ListAccountsInput{})
	n := 0
	for _, acct := range list.Accounts {
		if deref(acct.Email) == a.Email {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d accounts with e-mail %s, want exactly 1", n, a.Email)
	}
}

func TestConfigValidationNamesTheKey(t *testing.T) {
	for field, cfg := range map[string]Config{
		"organizations.email_template":   {EmailTemplate: "aws@example.com"},
		"organizations.parent_ou":        {EmailTemplate: "a+{id}@x.io", ParentOU: "marketing"},
		"organizations.trust_principals": {EmailTemplate: "a+{id}@x.io", TrustPrincipals: []string{"bob"}},
		"organizations.billing_contact":  {EmailTemplate: "a+{id}@x.io", BillingContact: &Contact{Name: "x"}},
	} {
		_, err := New(cfg, nil, nil, nil, discard)
		var fe *ovm.FieldError
		if !asFieldError(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
	_ = credentials.NewStaticCredentialsProvider
}
