package awsnuke

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
	rep, err := r.Run(ctx, p, creds, 2*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Removed != 3 || rep.ByType["IAMRole"].Removed != 1 || rep.Filtered < 2 {
		t.Fatalf("first run: %s\n%s", rep, rep.Tail)
	}
	again, err := r.Run(ctx, p, creds, 2*time.Minute, nil)
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

// TestTheTimeoutKillsTheWholeRun checks the process group of its own run
// only: another aws-nuke on the machine (another test binary, an operator's
// run) is none of its business, and the runner must leave it alone.
func TestTheTimeoutKillsTheWholeRun(t *testing.T) {
	srv, id, _, creds := memberAccount(t)
	other := unrelatedNuke(t)
	r := &Runner{ForceSleep: 30} // aws-nuke sleeps 30 s before scanning: longer than the timeout
	rep, err := r.Run(context.Background(), Params{Target: id, Management: "123456789012", Regions: []string{"us-east-1"},
		Endpoint: srv.URL, Include: MotoTypes}, creds, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.TimedOut || rep.OK() || rep.Phase != PhaseStarting || !strings.Contains(rep.String(), "killed at the clean timeout while starting") {
		t.Fatalf("report %s (phase %s)", rep, rep.Phase)
	}
	if rep.PGID <= 1 {
		t.Fatalf("the report names no process group: %d", rep.PGID)
	}
	if err := syscall.Kill(-rep.PGID, 0); err != syscall.ESRCH {
		t.Fatalf("process group %d of the run is still there (kill -0: %v)", rep.PGID, err)
	}
	if err := syscall.Kill(other.Pid, 0); err != nil {
		t.Fatalf("the unrelated ovm-nuke- process %d was touched: %v", other.Pid, err)
	}
}

// unrelatedNuke starts a process whose command line contains "ovm-nuke-",
// as another aws-nuke run of OVM on the same machine has, in a group of its
// own; it is killed when t ends.
func unrelatedNuke(t *testing.T) *os.Process {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ovm-nuke-unrelated")
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process
}

// TestARunIsWatchedAsItGoes runs aws-nuke over enough resources that its
// scan and removal take a while, and checks what watch heard: the run's
// process group at once, then the phases in order with the resources found
// so far, and a last word that agrees with the report.
func TestARunIsWatchedAsItGoes(t *testing.T) {
	srv, id, member, creds := memberAccount(t)
	ctx := context.Background()
	im := iam.NewFromConfig(member)
	q := sqs.NewFromConfig(member)
	const n = 12
	for i := range n {
		if _, err := im.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(fmt.Sprintf("lessee-%d", i))}); err != nil {
			t.Fatal(err)
		}
		if _, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("lessee-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu    sync.Mutex
		heard []Progress
	)
	r := &Runner{Heartbeat: 200 * time.Millisecond}
	p := Params{Target: id, Management: "123456789012", Regions: []string{"us-east-1"}, Endpoint: srv.URL,
		ProtectRoles: []string{"OrganizationAccountAccessRole"}, Include: MotoTypes}
	rep, err := r.Run(ctx, p, creds, 2*time.Minute, func(pr Progress) {
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, pr)
	})
	if err != nil || !rep.OK() || rep.Removed != 2*n {
		t.Fatalf("run: %v %v\n%s", rep, err, rep.Tail)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(heard) == 0 || heard[0].Phase != PhaseStarting || heard[0].PGID != rep.PGID || rep.PGID <= 1 {
		t.Fatalf("first word %+v, run's group %d", heard, rep.PGID)
	}
	order := map[Phase]int{PhaseStarting: 0, PhaseScanning: 1, PhaseRemoving: 2, PhaseDone: 3}
	seen := map[Phase]bool{}
	for i, pr := range heard {
		seen[pr.Phase] = true
		if i > 0 && (order[pr.Phase] < order[heard[i-1].Phase] || pr.Elapsed < heard[i-1].Elapsed || pr.Found < heard[i-1].Found) {
			t.Fatalf("progress went back: %+v after %+v", pr, heard[i-1])
		}
		if pr.Phase == PhaseRemoving && pr.Found != 2*n {
			t.Fatalf("removing with %d found, want the scan's %d", pr.Found, 2*n)
		}
	}
	for _, ph := range []Phase{PhaseScanning, PhaseRemoving, PhaseDone} {
		if !seen[ph] {
			t.Fatalf("never heard %s: %+v", ph, heard)
		}
	}
	if last := heard[len(heard)-1]; last.Phase != PhaseDone || last.Removed != 2*n || last.Found != rep.Found {
		t.Fatalf("last word %+v, report %s", last, rep)
	}
}
