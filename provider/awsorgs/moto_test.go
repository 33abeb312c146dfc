package awsorgs

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/internal/mototest"
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

func TestConformanceAgainstMoto(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		cfg := motoOrg(t)
		in := newInjector()
		clock := clocktest.New(t0)
		return &providertest.Harness{
			Provider:         newProvider(t, Config{PollInterval: time.Second}, in.wrap(NewClients(cfg)), clock),
			Advance:          clock.Advance,
			FailNext:         in.FailNext,
			FailDefinitively: in.FailDefinitively,
		}
	})
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
