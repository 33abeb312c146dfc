package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/internal/federationtest"
	"github.com/ovmdev/ovm/internal/testtool"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// accessWorld is `ovm serve` on moto with a retiring OU and a federation
// stand-in that accepts only credentials moto's STS accepts.
type accessWorld struct {
	s        *server
	cfg      aws.Config
	env      []string
	fed      *federationtest.Server
	retiring string
}

func newAccessWorld(t *testing.T) *accessWorld {
	w := &accessWorld{fed: federationtest.New(t)}
	w.s, w.cfg, w.env = motoServerWith(t, func(cfg aws.Config) string {
		w.cfg = cfg
		ctx := context.Background()
		orgs := organizations.NewFromConfig(cfg)
		roots, err := orgs.ListRoots(ctx, &organizations.ListRootsInput{})
		if err != nil {
			t.Fatal(err)
		}
		ou, err := orgs.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{ParentId: roots.Roots[0].Id, Name: aws.String("retiring")})
		if err != nil {
			t.Fatal(err)
		}
		w.retiring = aws.ToString(ou.OrganizationalUnit.Id)
		return fmt.Sprintf("      retiring_ou: %s\naccess: {federation_endpoint: %q}\n", w.retiring, w.fed.Endpoint())
	})
	w.fed.Valid = func(c federationtest.Credentials) bool {
		cfg := w.cfg.Copy()
		cfg.Credentials = credentials.NewStaticCredentialsProvider(c.ID, c.Key, c.Token)
		_, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
		return err == nil
	}
	return w
}

func (w *accessWorld) pool() client.Pool {
	var p client.Pool
	w.s.ovmJSON(&p, "pool", "status", "members")
	return p
}

// memberIAM is IAM in acct through OVM's creation role.
func (w *accessWorld) memberIAM(acct string) *iam.Client {
	return iam.NewFromConfig(assumeInto(w.cfg, acct, "OrganizationAccountAccessRole"))
}

// revoked checks, in the documents OVM wrote, that acct's lease ended at
// end has been revoked: the deny of older sessions with the lease's end,
// the trust without principal, the account under the retiring OU and its
// SCP. moto enforces none of these documents; AWS does.
func (w *accessWorld) revoked(t *testing.T, acct string, end time.Time, principal string) {
	t.Helper()
	ctx := context.Background()
	im := w.memberIAM(acct)
	pol, err := im.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("OVMCrossAccountRole"), PolicyName: aws.String("OVMRevokeOlderSessions")})
	if err != nil {
		t.Fatalf("no deny of older sessions on the role of %s: %v", acct, err)
	}
	doc, _ := url.QueryUnescape(aws.ToString(pol.PolicyDocument))
	if want := `"aws:TokenIssueTime":"` + roleaccess.DenyTime(end.Add(ovm.DefaultClockMargin)).Format(time.RFC3339) + `"`; !strings.Contains(doc, want) || !strings.Contains(doc, `"Effect":"Deny"`) {
		t.Fatalf("deny %s, want %s", doc, want)
	}
	role, _ := im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")})
	if trust, _ := url.QueryUnescape(aws.ToString(role.Role.AssumeRolePolicyDocument)); principal != "" && strings.Contains(trust, principal) {
		t.Fatalf("the lease's principal is still trusted: %s", trust)
	}
	orgs := organizations.NewFromConfig(w.cfg)
	parents, _ := orgs.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(acct)})
	if len(parents.Parents) != 1 || aws.ToString(parents.Parents[0].Id) != w.retiring {
		t.Fatalf("%s is under %+v, not the retiring OU %s", acct, parents.Parents, w.retiring)
	}
	scps, _ := orgs.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(w.retiring), Filter: types.PolicyTypeServiceControlPolicy})
	found := false
	for _, p := range scps.Policies {
		found = found || aws.ToString(p.Name) == "ovm-retiring-members"
	}
	if !found {
		t.Fatalf("the retiring OU has no SCP of OVM: %+v", scps.Policies)
	}
}

func TestLeaseExecRunsACommandInTheLeasedAccountAndTheEndRevokesIt(t *testing.T) {
	testtool.Require(t, "aws", "the AWS CLI (pip install awscli)")
	w := newAccessWorld(t)
	w.s.start(w.env...)
	eventually(t, 60*time.Second, "2 accounts in stock", func() bool { return w.pool().Ready == 2 })

	// ovm lease exec -- aws sts get-caller-identity: the CLI, with only what
	// exec gives it, is the lessee's session in the leased account.
	cmd := exec.Command(binPath, "lease", "exec", "--ttl", "10m", "--", "sh", "-c",
		`echo "lease=$OVM_LEASE_ID account=$OVM_ACCOUNT_ID"; aws sts get-caller-identity --output json`)
	cmd.Env = append(w.env, "OVM_URL="+w.s.url, "OVM_TOKEN="+w.s.key, "AWS_ENDPOINT_URL="+aws.ToString(w.cfg.BaseEndpoint), "PATH="+pathEnv())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ovm lease exec: %v\n%s%s", err, out, stderr.String())
	}
	if !strings.Contains(stderr.String(), "static credentials") { // a 10m lease: keys, not the loopback endpoint
		t.Fatalf("exec did not say which credentials it gave: %s", stderr.String())
	}
	var lease, account string
	fmt.Sscanf(strings.SplitN(string(out), "\n", 2)[0], "lease=%s account=%s", &lease, &account)
	var who struct{ Account, Arn string }
	if err := json.Unmarshal([]byte(strings.SplitN(string(out), "\n", 2)[1]), &who); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if who.Account != account || !strings.HasSuffix(who.Arn, ":assumed-role/OVMCrossAccountRole/ovm-admin") {
		t.Fatalf("the command ran as %s in %s, want the lessee's session in the leased %s", who.Arn, who.Account, account)
	}
	var l client.Lease
	w.s.ovmJSON(&l, "lease", "get", lease)
	if l.State != "ended" || l.EndReason != "released" {
		t.Fatalf("after exec the lease is %s (%s), want released", l.State, l.EndReason)
	}
	eventually(t, 30*time.Second, "the account closed", func() bool {
		var a client.Account
		w.s.ovmJSON(&a, "account", "get", account)
		return a.State == "closed"
	})
	w.revoked(t, account, *l.EndedAt, "")

	// exec gives CMD's exit status back.
	cmd = exec.Command(binPath, "lease", "exec", "--", "sh", "-c", "exit 7")
	cmd.Env = append(w.env, "OVM_URL="+w.s.url, "OVM_TOKEN="+w.s.key, "PATH="+pathEnv())
	if out, err := cmd.CombinedOutput(); err == nil || cmd.ProcessState.ExitCode() != 7 {
		t.Fatalf("exit status %v, want 7\n%s", err, out)
	}
}

func TestALeasesPrincipalAndConsoleAgainstMotoAndTheFederationStandIn(t *testing.T) {
	w := newAccessWorld(t)
	w.s.start(w.env...)
	eventually(t, 60*time.Second, "2 accounts in stock", func() bool { return w.pool().Ready == 2 })
	ci := "arn:aws:iam::210987654321:role/ci"
	r := w.s.do("POST", "/v1/leases", w.s.key, `{"principal": "`+ci+`", "ttl": "2h"}`)
	var l client.Lease
	if err := json.Unmarshal(r.body, &l); r.status != 201 || err != nil || l.Principal != ci {
		t.Fatalf("lease with a principal: %d %s", r.status, r.body)
	}
	role, err := w.memberIAM(l.AccountID).GetRole(context.Background(), &iam.GetRoleInput{RoleName: aws.String("OVMCrossAccountRole")})
	if trust, _ := url.QueryUnescape(aws.ToString(role.Role.AssumeRolePolicyDocument)); err != nil || !strings.Contains(trust, ci) {
		t.Fatalf("the lease's principal is not trusted: %s %v", trust, err)
	}

	// The console URL is made from a token the stand-in issued for
	// credentials moto accepts, and the stand-in accepts it once.
	code, out, errOut := w.s.run(nil, "lease", "console", l.ID, "--destination", "https://us-east-1.console.aws.amazon.com/s3/home")
	if code != 0 {
		t.Fatalf("lease console: exit %d %q", code, errOut)
	}
	// stderr says how long the link and its session last, as the docs do.
	if !strings.Contains(errOut, consoleLifetime) || strings.Contains(errOut, "simulated") {
		t.Fatalf("lease console's note: %q", errOut)
	}
	u := strings.TrimSpace(out)
	if !strings.HasPrefix(u, w.fed.Endpoint()+"?") {
		t.Fatalf("console URL %q", u)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	in := w.fed.SignIns()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "https://us-east-1.console.aws.amazon.com/s3/home" || len(in) != 1 {
		t.Fatalf("login: %d to %q, sign-ins %+v, refused %v", res.StatusCode, res.Header.Get("Location"), in, w.fed.Refused())
	}
	// Not role-chained: the console session asks for the lease's time left.
	if in[0].Duration < 110*time.Minute || in[0].Duration > 2*time.Hour {
		t.Fatalf("console session of %s, want the lease's 2h", in[0].Duration)
	}

	// Credentials p50/p99 through the API, for the closing note.
	var lat []time.Duration
	for range 50 {
		start := time.Now()
		if r := w.s.do("POST", "/v1/leases/"+l.ID+"/credentials", w.s.key, ""); r.status != 200 {
			t.Fatalf("credentials: %d %s", r.status, r.body)
		}
		lat = append(lat, time.Since(start))
	}
	t.Logf("credentials through the API against moto: %s", percentiles(lat))

	if _, err := w.s.ovm("lease", "release", l.ID); err != nil {
		t.Fatal(err)
	}
	w.s.ovmJSON(&l, "lease", "get", l.ID)
	eventually(t, 30*time.Second, "the revocation", func() bool {
		for _, e := range w.s.events(l.OVMAccountID) {
			if strings.Contains(e.Reason, "access of lease "+l.ID+" revoked") {
				return true
			}
		}
		return false
	})
	w.revoked(t, l.AccountID, *l.EndedAt, ci)
}

// TestAKillBetweenALeasesEndAndItsRevocationIsFinishedAfterTheRestart
// kills `ovm serve` right after AWS took the revocation and before the
// store recorded it; the restart runs it again and the account retires.
func TestAKillBetweenALeasesEndAndItsRevocationIsFinishedAfterTheRestart(t *testing.T) {
	w := newAccessWorld(t)
	w.s.start(append(w.env, "OVM_TEST_CRASH_POINT=runner.after-call:revoke")...)
	eventually(t, 60*time.Second, "2 accounts in stock", func() bool { return w.pool().Ready == 2 })
	var l client.Lease
	w.s.ovmJSON(&l, "lease", "create")
	if _, err := w.s.ovm("lease", "release", l.ID); err != nil {
		t.Fatal(err)
	}
	err := w.s.waitExit(30 * time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("want a SIGKILL at the crash point, got %v\n%s", err, w.s.stderr.String())
	}
	w.s.start(w.env...)
	w.s.ovmJSON(&l, "lease", "get", l.ID)
	eventually(t, 30*time.Second, "the account closed after the restart", func() bool {
		var a client.Account
		w.s.ovmJSON(&a, "account", "get", l.AccountID)
		return a.State == "closed"
	})
	revocations := 0
	for _, e := range w.s.events(l.OVMAccountID) {
		if strings.Contains(e.Reason, "access of lease "+l.ID+" revoked") {
			revocations++
		}
	}
	if revocations != 1 {
		t.Fatalf("%d revocation events, want the one recorded after the restart", revocations)
	}
	w.revoked(t, l.AccountID, *l.EndedAt, "")
}

// events returns an account's event log (the last ones the API shows).
func (s *server) events(id string) []client.Event {
	s.t.Helper()
	var a client.Account
	s.ovmJSON(&a, "account", "get", id)
	return a.Events
}

func pathEnv() string { return os.Getenv("PATH") }

// percentiles formats the p50 and p99 of lat.
func percentiles(lat []time.Duration) string {
	slices.Sort(lat)
	return fmt.Sprintf("p50 %s, p99 %s over %d", lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), len(lat))
}

// TestLeaseExecOnTheEmbeddedDefault shows the whole path with no AWS at
// all: the command gets plainly simulated credentials of a lease that ends
// with it, and the note's figure (what exec adds before the command
// starts) is logged.
func TestLeaseExecOnTheEmbeddedDefault(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := newServer(t, fastConfig)
	s.start()
	eventually(t, 20*time.Second, "stock", func() bool { return s.pool().Ready == 3 })
	env := append(os.Environ(), "OVM_URL="+s.url, "OVM_TOKEN="+s.key, "AWS_PROFILE=someone-else", "AWS_ACCESS_KEY_ID=AKIAOUTSIDE")
	cmd := exec.Command(binPath, "lease", "exec", "--ttl", "20m", "--label", "job=e2e", "--", "env")
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "simulated") {
		t.Fatalf("exec says nothing of simulated credentials: %q", stderr.String())
	}
	// A 20m lease: one session covers it, so static keys, and exec says so.
	if !strings.Contains(stderr.String(), "static credentials (AWS_ACCESS_KEY_ID...)") {
		t.Fatalf("exec does not say which credentials it chose: %q", stderr.String())
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	if !strings.HasPrefix(got["AWS_ACCESS_KEY_ID"], "ASIASIM") || !strings.HasPrefix(got["AWS_SECRET_ACCESS_KEY"], "simulated-") ||
		!strings.HasPrefix(got["AWS_SESSION_TOKEN"], "simulated-") || got["AWS_REGION"] != "us-east-1" || got["AWS_DEFAULT_REGION"] != "us-east-1" || got["AWS_PROFILE"] != "" ||
		got["OVM_TOKEN"] != "" || !strings.HasPrefix(got["OVM_LEASE_ID"], "lse_") || len(got["OVM_ACCOUNT_ID"]) != 12 {
		t.Fatalf("the command's environment: %v", got)
	}
	var l client.Lease
	s.ovmJSON(&l, "lease", "get", got["OVM_LEASE_ID"])
	if l.State != "ended" || l.AccountID != got["OVM_ACCOUNT_ID"] || l.Labels["job"] != "e2e" {
		t.Fatalf("lease after exec: %+v", l)
	}

	// A command that cannot run costs no account: 127, as a shell says.
	var before, after client.Page[client.Lease]
	s.ovmJSON(&before, "lease", "list")
	cmd = exec.Command(binPath, "lease", "exec", "--", "no-such-command-xyz")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || cmd.ProcessState.ExitCode() != 127 || !strings.Contains(string(out), "no-such-command-xyz") {
		t.Fatalf("a missing command: %v %s", err, out)
	}
	s.ovmJSON(&after, "lease", "list")
	if len(after.Items) != len(before.Items) {
		t.Fatalf("a missing command made a lease: %d leases, %d before", len(after.Items), len(before.Items))
	}
	// An ended lease brought with --lease is refused, not released again.
	cmd = exec.Command(binPath, "lease", "exec", "--lease", l.ID, "--", "true")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "has ended") || strings.Contains(string(out), "could not release") {
		t.Fatalf("an ended --lease: %v %s", err, out)
	}

	// A lease longer than a session: the endpoint, refreshed on demand.
	cmd = exec.Command(binPath, "lease", "exec", "--ttl", "90m", "--", "sh", "-c",
		`test -z "$AWS_ACCESS_KEY_ID" && curl -sf -H "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" "$AWS_CONTAINER_CREDENTIALS_FULL_URI" &&
		 ! curl -sf -H "Authorization: wrong" "$AWS_CONTAINER_CREDENTIALS_FULL_URI"`)
	cmd.Env = env
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	var ep map[string]string
	if err != nil || json.Unmarshal(out, &ep) != nil || !strings.HasPrefix(ep["AccessKeyId"], "ASIASIM") || ep["Token"] == "" || ep["Expiration"] == "" {
		t.Fatalf("endpoint credentials: %v %s", err, out)
	}
	if !strings.Contains(stderr.String(), "credentials from a loopback endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI)") {
		t.Fatalf("exec does not say it chose the endpoint: %q", stderr.String())
	}

	// SIGTERM to exec reaches the command; the lease is released anyway.
	cmd = exec.Command(binPath, "lease", "exec", "--", "sh", "-c", `trap 'echo got-term; exit 143' TERM; echo started; while :; do sleep 0.05; done`)
	cmd.Env = env
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := stdout.Read(buf)
	if !strings.Contains(string(buf[:n]), "started") {
		t.Fatalf("the command did not start: %q", buf[:n])
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(stdout)
	err = cmd.Wait()
	if !strings.Contains(string(rest), "got-term") || cmd.ProcessState.ExitCode() != 143 {
		t.Fatalf("signal forwarding: %q, %v", rest, err)
	}
	var page client.Page[client.Lease]
	s.ovmJSON(&page, "lease", "list", "--state", "active")
	if len(page.Items) != 0 {
		t.Fatalf("active leases after exec: %+v", page.Items)
	}

	// What exec adds before the command starts (vend and credentials on
	// loopback), against running the command directly.
	eventually(t, 20*time.Second, "stock", func() bool { return s.pool().Ready == 3 })
	var with, without []time.Duration
	for range 15 {
		start := time.Now()
		c := exec.Command(binPath, "lease", "exec", "--ttl", "20m", "--", "true")
		c.Env = env
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		with = append(with, time.Since(start))
		start = time.Now()
		exec.Command("true").Run()
		without = append(without, time.Since(start))
		eventually(t, 20*time.Second, "stock", func() bool { return s.pool().Ready == 3 })
	}
	t.Logf("ovm lease exec -- true: %s; true alone: %s (the difference includes the release after the command)", percentiles(with), percentiles(without))
}
