package awsnuke

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/internal/testtool"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// memberAccount makes a fresh organization and member account in moto and
// returns the member's id, a config acting in it, and its credentials.
func memberAccount(t *testing.T) (*mototest.Server, string, aws.Config, aws.Credentials) {
	testtool.Require(t, "aws-nuke", "make deps installs it (apt-get install -y aws-nuke)")
	srv := mototest.Require(t)
	ctx := context.Background()
	cfg := srv.Config()
	org := organizations.NewFromConfig(cfg)
	if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: types.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{Email: aws.String("m@example.com"), AccountName: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.CreateAccountStatus.AccountId)
	member := cfg.Copy()
	member.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg),
		"arn:aws:iam::"+id+":role/OrganizationAccountAccessRole"))
	creds, err := member.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// aws-nuke refuses accounts without an alias.
	if _, err := iam.NewFromConfig(member).CreateAccountAlias(ctx, &iam.CreateAccountAliasInput{AccountAlias: aws.String("ovm-test")}); err != nil {
		t.Fatal(err)
	}
	return srv, id, member, creds
}

func TestARealRunRemovesTheLesseesResourcesAndKeepsOVMs(t *testing.T) {
	srv, id, member, creds := memberAccount(t)
	ctx := context.Background()
	im := iam.NewFromConfig(member)
	trust := aws.String(`{"Version":"2012-10-17","Statement":[]}`)
	for _, role := range []string{"OVMCrossAccountRole", "lessee-role"} {
		if _, err := im.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: trust}); err != nil {
			t.Fatal(err)
		}
	}
	im.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("lessee-user")})
	q := sqs.NewFromConfig(member)
	q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("lessee-queue")})

	r := &Runner{}
	p := Params{Target: id, Management: "123456789012", Regions: []string{"us-east-1"}, Endpoint: srv.URL,
		ProtectRoles: []string{"OVMCrossAccountRole", "OrganizationAccountAccessRole"}, Include: MotoTypes}
	rep, err := r.Run(ctx, p, creds, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Removed != 3 || rep.ByType["IAMRole"].Removed != 1 || rep.Filtered < 2 {
		t.Fatalf("first run: %s\n%s", rep, rep.Tail)
	}
	again, err := r.Run(ctx, p, creds, 2*time.Minute)
	if err != nil || !again.Clean() {
		t.Fatalf("second run: %v %v", again, err)
	}
	roles, _ := im.ListRoles(ctx, &iam.ListRolesInput{})
	var names []string
	for _, role := range roles.Roles {
		names = append(names, aws.ToString(role.RoleName))
	}
	if strings.Join(names, ",") != "OrganizationAccountAccessRole,OVMCrossAccountRole" && strings.Join(names, ",") != "OVMCrossAccountRole,OrganizationAccountAccessRole" {
		t.Fatalf("roles left: %v", names)
	}
	aliases, _ := im.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
	if len(aliases.AccountAliases) != 1 {
		t.Fatalf("the alias did not survive: %v", aliases.AccountAliases)
	}
}

func TestTheTimeoutKillsTheWholeRun(t *testing.T) {
	srv, id, _, creds := memberAccount(t)
	r := &Runner{ForceSleep: 30} // aws-nuke sleeps 30 s before deleting: longer than the timeout
	start := time.Now()
	rep, err := r.Run(context.Background(), Params{Target: id, Management: "123456789012", Regions: []string{"us-east-1"},
		Endpoint: srv.URL, Include: MotoTypes}, creds, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.TimedOut || rep.OK() || time.Since(start) > 20*time.Second {
		t.Fatalf("report %s after %s", rep, time.Since(start))
	}
	if out, _ := exec.Command("pgrep", "-f", "ovm-nuke-").Output(); len(out) > 0 {
		t.Fatalf("aws-nuke still running: %s", out)
	}
}
