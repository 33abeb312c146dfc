package awsorgs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/clocktest"
)

// TestBurialEmptiesTheClientsOrganizationAndClosesTheAccountInTheGraveyard
// buries a vended management account whose user made an Organization with
// two members: moto closes the members and deletes that Organization; the
// documented fake stands in for the invitation and handshake moto lacks.
func TestBurialEmptiesTheClientsOrganizationAndClosesTheAccountInTheGraveyard(t *testing.T) {
	cfg := motoOrg(t) // the graveyard organization of OVM's management account
	ctx := context.Background()
	const acct = "912345678901" // the vended management account
	gy := organizations.NewFromConfig(cfg)
	roots, _ := gy.ListRoots(ctx, &organizations.ListRootsInput{})
	ou, err := gy.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: roots.Roots[0].Id, Name: aws.String("graveyard")})
	if err != nil {
		t.Fatal(err)
	}
	// The vended role in the account (the sign-up's stack made it).
	c := NewClients(cfg)
	console := cfg.Copy()
	console.Credentials = (&Provider{}).assume(ovm.RoleARN(acct, "OrganizationAccountAccessRole"), "console", c.STS)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`
	if _, err := iam.NewFromConfig(console).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("OVMCrossAccountRole"), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	// The client made its own Organization with two members.
	clientCfg := cfg.Copy()
	clientCfg.Credentials = (&Provider{}).assume(ovm.RoleARN(acct, "OVMCrossAccountRole"), "client", c.STS)
	client := organizations.NewFromConfig(clientCfg)
	if _, err := client.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: types.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"m1@client.example", "m2@client.example"} {
		if _, err := client.CreateAccount(ctx, &organizations.CreateAccountInput{Email: aws.String(e), AccountName: aws.String(e)}); err != nil {
			t.Fatal(err)
		}
	}

	h := newHandshakes()
	graveyardOrgs := h.graveyard(organizations.NewFromConfig(cfg))
	clock := clocktest.New(t0)
	gc := NewClients(cfg)
	gc.Orgs = graveyardOrgs
	graveyard := newProvider(t, Config{CloseQuota: 5, PollInterval: time.Second}, gc, clock)
	b := &Burial{Graveyard: graveyard, GraveyardOrgs: graveyardOrgs, OU: aws.ToString(ou.OrganizationalUnit.Id), RoleName: "OVMCrossAccountRole",
		ClientOrgs: func(creds aws.CredentialsProvider) BuryAPI {
			cc := cfg.Copy()
			cc.Credentials = creds
			return h.client(organizations.NewFromConfig(cc))
		}}
	a := &ovm.Account{ID: "acc_buried", Pool: "managers", AWSAccountID: acct, State: ovm.AccountClosing, Progress: map[string]string{}}
	var reports []string
	// First the members are closed; the organization then waits for AWS to
	// remove its closed members (up to 90 days on AWS).
	for i := 0; ; i++ {
		r, err := b.Bury(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.Reason, "keeps its closed members") {
			break
		}
		if i > 10 {
			t.Fatalf("the members were not closed: %+v", r)
		}
	}
	list, _ := client.ListAccounts(ctx, &organizations.ListAccountsInput{})
	for _, m := range list.Accounts {
		if aws.ToString(m.Id) != acct && m.State != types.AccountStateSuspended {
			t.Fatalf("member %s is %s", aws.ToString(m.Id), m.State)
		}
	}
	// Acting out AWS removing the closed members after their waiting time.
	for _, m := range list.Accounts {
		if aws.ToString(m.Id) != acct {
			if _, err := client.RemoveAccountFromOrganization(ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: m.Id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; ; i++ {
		r, err := b.Bury(ctx, a)
		if err != nil {
			t.Fatalf("phase %q: %v", a.Progress["burial.phase"], err)
		}
		if r.Report != "" {
			reports = append(reports, r.Report)
		}
		for k, v := range r.Progress {
			a.Progress[k] = v
		}
		if r.Status == ovm.StepDone {
			break
		}
		if i > 30 {
			t.Fatalf("burial did not finish: %v (last %+v)", reports, r)
		}
		clock.Advance(time.Second)
	}
	// moto: the members are closed and the client's organization is gone.
	_, err = client.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
	var notInUse *types.AWSOrganizationsNotInUseException
	if !errors.As(err, &notInUse) {
		t.Fatalf("the client's organization still exists: %v", err)
	}
	// The graveyard: joined, moved to its OU, closed under its ledger.
	j := h.joined[acct]
	if j == nil || j.parent != aws.ToString(ou.OrganizationalUnit.Id) || j.state != types.AccountStateSuspended {
		t.Fatalf("graveyard state %+v", j)
	}
	q, _ := graveyard.CloseQuota(ctx)
	if q.Used != 1 {
		t.Fatalf("graveyard ledger: %+v", q)
	}
	if !strings.Contains(strings.Join(reports, "|"), "deleted the client's organization") {
		t.Fatalf("reports %v", reports)
	}
}
