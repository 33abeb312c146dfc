package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/internal/mototest"
)

// motoServer starts `ovm serve` with a pool on the organizations provider
// against a fresh organization in moto.
func motoServer(t *testing.T, extraEnv ...string) (*server, aws.Config, []string) {
	return motoServerWith(t, func(aws.Config) string { return "" }, extraEnv...)
}

// motoServerWith is motoServer with more configuration: more(cfg) is
// added to the file once the organization exists; lines indented by six
// spaces continue the pool's organizations block.
func motoServerWith(t *testing.T, more func(aws.Config) string, extraEnv ...string) (*server, aws.Config, []string) {
	srv := mototest.Require(t)
	cfg := srv.Config()
	if _, err := organizations.NewFromConfig(cfg).CreateOrganization(context.Background(),
		&organizations.CreateOrganizationInput{FeatureSet: types.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, fmt.Sprintf(`
aws: {region: us-east-1, endpoint: %q}
engine: {tick: 100ms, claim_ttl: 30s, step_timeout: 20s, drift_interval: 1s}
api: {default_pool: members, access_issues: 1000} # the tests measure the latency of many issues
pools:
  - name: members
    provider: organizations
    stock: {target: 2, ceiling: 6}
    lease: {default_ttl: 1h, min_ttl: 1s}
    retry: {base_delay: 200ms, max_delay: 2s}
    organizations:
      email_template: "aws+{id}@example.com"
      poll_interval: 200ms
      close_quota: 5
      billing_contact: {name: Ops, title: Billing, email: billing@example.com, phone: "+1 555 0100"}
`, srv.URL)+more(cfg))
	env := append([]string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_SESSION_TOKEN=",
		"AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}, extraEnv...)
	return s, cfg, env
}

// motoAccounts lists the organization's accounts by e-mail.
func motoAccounts(t *testing.T, cfg aws.Config) map[string][]types.Account {
	out := map[string][]types.Account{}
	pages := organizations.NewListAccountsPaginator(organizations.NewFromConfig(cfg), &organizations.ListAccountsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Accounts {
			out[aws.ToString(a.Email)] = append(out[aws.ToString(a.Email)], a)
		}
	}
	return out
}

func TestOrganizationsPoolAgainstMoto(t *testing.T) {
	s, cfg, env := motoServer(t)
	s.start(env...)
	pool := func() client.Pool {
		var p client.Pool
		s.ovmJSON(&p, "pool", "status", "members")
		return p
	}
	eventually(t, 60*time.Second, "2 moto accounts in stock", func() bool { return pool().Ready == 2 })

	r := s.do("GET", "/vend", s.key, "")
	m := vendRe.FindSubmatch(r.body)
	if r.status != 200 || m == nil {
		t.Fatalf("vend: %d %s", r.status, r.body)
	}
	acct := string(m[1])
	// The role really exists in that account: look with its own credentials.
	member := cfg.Copy()
	member.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg),
		"arn:aws:iam::"+acct+":role/OrganizationAccountAccessRole"))
	who, err := sts.NewFromConfig(member).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Account) != acct {
		t.Fatalf("member identity: %v %v", who, err)
	}
	if _, err := iam.NewFromConfig(member).GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")}); err != nil {
		t.Fatalf("the vended role does not exist in %s: %v", acct, err)
	}

	// Release: the account is closed in moto and the ledger shows it.
	var leases client.Page[client.Lease]
	s.ovmJSON(&leases, "lease", "list")
	if _, err := s.ovm("lease", "release", leases.Items[0].ID); err != nil {
		t.Fatal(err)
	}
	var a client.Account
	eventually(t, 30*time.Second, "the account closed", func() bool {
		s.ovmJSON(&a, "account", "get", acct)
		return a.State == "closed"
	})
	d, err := organizations.NewFromConfig(cfg).DescribeAccount(context.Background(), &organizations.DescribeAccountInput{AccountId: aws.String(acct)})
	if err != nil || d.Account.State != types.AccountStateSuspended {
		t.Fatalf("moto: %+v %v", d, err)
	}
	p := pool()
	if p.CloseQuota == nil || p.CloseQuota.Used != 1 || p.CloseQuota.Limit != 5 || len(p.RecentCloses) != 1 || p.RecentCloses[0].AccountID != acct {
		b, _ := json.Marshal(p)
		t.Fatalf("pool status does not show the closure: %s", b)
	}
	eventually(t, 10*time.Second, "a drift check", func() bool { return pool().DriftCheckedAt != nil })
	if p := pool(); len(p.Drift) != 0 {
		t.Fatalf("drift against moto: %+v", p.Drift)
	}
	if strings.Contains(s.stderr.String(), "testing") && strings.Contains(s.stderr.String(), "AWS_SECRET") {
		t.Fatal("credentials in the log")
	}
}

// TestKillBetweenCreateAccountAndTheStoreWrite kills `ovm serve` right after
// moto accepted CreateAccount and before the store recorded it, then
// restarts: exactly one AWS account exists per stored account.
func TestKillBetweenCreateAccountAndTheStoreWrite(t *testing.T) {
	s, cfg, env := motoServer(t)
	s.start(append(env, "OVM_TEST_CRASH_POINT=runner.after-call:pending")...)
	err := s.waitExit(60 * time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("want a SIGKILL at the crash point, got %v\n%s", err, s.stderr.String())
	}
	before := motoAccounts(t, cfg)
	s.start(env...)
	eventually(t, 60*time.Second, "the stock after the restart", func() bool {
		var p client.Pool
		s.ovmJSON(&p, "pool", "status", "members")
		return p.Ready == 2
	})
	after := motoAccounts(t, cfg)
	for _, a := range s.accounts() {
		got := after[a.Email]
		if len(got) != 1 {
			t.Errorf("%s (%s): %d aws accounts, want exactly 1", a.ID, a.Email, len(got))
			continue
		}
		if aws.ToString(got[0].Id) != a.AccountID {
			t.Errorf("%s: store says %s, moto %s", a.ID, a.AccountID, aws.ToString(got[0].Id))
		}
		if len(before[a.Email]) == 1 && aws.ToString(before[a.Email][0].Id) != a.AccountID {
			t.Errorf("%s: the account created before the crash was not the one adopted", a.ID)
		}
	}
	crashed := 0
	for email := range before {
		if strings.HasPrefix(email, "aws+") {
			crashed++
		}
	}
	if crashed == 0 {
		t.Fatal("no account existed in moto at the crash: the crash point proves nothing")
	}
	if n := len(after) - 1; n != len(s.accounts()) { // minus the management account
		t.Fatalf("%d member accounts in moto, %d in the store", n, len(s.accounts()))
	}
}
