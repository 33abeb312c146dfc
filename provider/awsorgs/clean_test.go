package awsorgs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/cleaner/awsnuke"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/internal/testtool"
	"github.com/ovmdev/ovm/provider/providertest"
)

// TestACleaningPassIsVisibleWhileItRuns runs real aws-nuke passes against
// moto over an account a lessee filled, with no include list (the moto
// default), and looks from outside the step as an operator would: the
// start event in the account's log, the live progress (pass, phase,
// elapsed time, resources found so far) while the pass runs, progress
// events at the configured rate, and nothing live once the step returned.
func TestACleaningPassIsVisibleWhileItRuns(t *testing.T) {
	testtool.Require(t, "aws-nuke", "make deps installs it (apt-get install -y aws-nuke)")
	cfg := motoOrg(t)
	ctx := context.Background()
	store := testLedger(t)
	p, err := New(Config{Pool: "sandbox", EmailTemplate: "aws+{id}@example.com"}, NewClients(cfg), store, ovm.SystemClock(), discard)
	if err != nil {
		t.Fatal(err)
	}
	p.SetNuker(&awsnuke.Runner{Heartbeat: 100 * time.Millisecond},
		NukeConfig{Region: "us-east-1", Endpoint: aws.ToString(cfg.BaseEndpoint), EventEvery: time.Second})
	a := providertest.NewAccount(p)
	a.Pool = "sandbox"
	r, err := p.Create(ctx, a)
	if err != nil || r.Status != ovm.StepDone {
		t.Fatalf("create: %+v %v", r, err)
	}
	a.AWSAccountID = r.AWSAccountID
	if r, err := p.Bootstrap(ctx, a); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("bootstrap: %+v %v", r, err)
	}
	lessee := cfg.Copy()
	lessee.Credentials = p.assume(ovm.RoleARN(a.AWSAccountID, "OVMCrossAccountRole"), "lessee", p.c.STS)
	const n = 15
	for i := range n {
		name := aws.String(fmt.Sprintf("lessee-%d", i))
		if _, err := iam.NewFromConfig(lessee).CreateUser(ctx, &iam.CreateUserInput{UserName: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := sqs.NewFromConfig(lessee).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: name}); err != nil {
			t.Fatal(err)
		}
	}
	a.State = ovm.AccountCleaning
	policy := ovm.RetirePolicy{Mode: ovm.RetireRecycle, CleanTimeout: 2 * time.Minute, CleanPasses: 2}

	// The first pass, watched from outside.
	var (
		res  ovm.StepResult
		done = make(chan struct{})
	)
	go func() { defer close(done); res, err = p.Clean(ctx, a, policy) }()
	var seen []map[string]string
	for watching := true; watching; {
		select {
		case <-done:
			watching = false
		case <-time.After(20 * time.Millisecond):
			if live := p.LiveProgress(a.ID); live != nil {
				seen = append(seen, live)
			}
		}
	}
	if err != nil || res.Status != ovm.StepPending {
		t.Fatalf("first pass: %+v %v", res, err)
	}
	if live := p.LiveProgress(a.ID); live != nil {
		t.Fatalf("a pass that returned is still live: %v", live)
	}
	var sawFound, sawRemoving bool
	var lastElapsed time.Duration
	for _, live := range seen {
		if live["step"] != "clean" || live["pass"] != "1" {
			t.Fatalf("live progress %v", live)
		}
		if _, err := time.Parse(time.RFC3339, live["started_at"]); err != nil {
			t.Fatalf("started_at %q: %v", live["started_at"], err)
		}
		elapsed, err := time.ParseDuration(live["elapsed"])
		if err != nil || elapsed < lastElapsed {
			t.Fatalf("elapsed %q after %s: %v", live["elapsed"], lastElapsed, err)
		}
		lastElapsed = elapsed
		found, _ := strconv.Atoi(live["found"])
		sawFound = sawFound || found > 0
		sawRemoving = sawRemoving || (live["phase"] == string(awsnuke.PhaseRemoving) && found == 2*n)
	}
	if !sawFound || !sawRemoving || lastElapsed < time.Second {
		t.Fatalf("the pass was not seen finding and removing the lessee's %d resources: %v", 2*n, seen)
	}

	// What the account's event log shows to any replica.
	reasons := eventReasons(t, store, a.ID)
	if len(reasons) < 2 || !strings.HasPrefix(reasons[0], "cleaning pass 1 started: aws-nuke in us-east-1 at http://127.0.0.1:") ||
		!strings.Contains(reasons[0], "10 resource types (CloudWatchLogsLogGroup,") || !strings.Contains(reasons[0], "for at most 2m0s") {
		t.Fatalf("events %q", reasons)
	}
	for _, r := range reasons[1:] {
		if !strings.HasPrefix(r, "cleaning pass 1 under way for ") {
			t.Fatalf("event %q", r)
		}
	}
	// One a second at most: the pass is its elapsed seconds long.
	if len(reasons)-1 > int(lastElapsed/time.Second)+1 {
		t.Fatalf("%d progress events in %s: %q", len(reasons)-1, lastElapsed, reasons)
	}

	// The second pass finds nothing, starts with its own event, and is done.
	ovm.MergeProgress(&ovm.AccountUpdate{Account: a}, res.Progress)
	if res, err := p.Clean(ctx, a, policy); err != nil || res.Status != ovm.StepDone {
		t.Fatalf("second pass: %+v %v", res, err)
	}
	found := false
	for _, r := range eventReasons(t, store, a.ID) {
		found = found || strings.HasPrefix(r, "cleaning pass 2 started: ")
	}
	if !found {
		t.Fatalf("no start event for pass 2: %q", eventReasons(t, store, a.ID))
	}
}

func eventReasons(t *testing.T, store interface {
	EventList(context.Context, *ovm.EventListParams) ([]*ovm.Event, string, error)
}, id string) []string {
	t.Helper()
	ev, _, err := store.EventList(context.Background(), &ovm.EventListParams{AccountID: id, PageParams: ovm.PageParams{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ev {
		if e.From != string(ovm.AccountCleaning) || e.To != string(ovm.AccountCleaning) {
			t.Fatalf("event %+v of a pass under way moves the account", e)
		}
		out = append(out, e.Reason)
	}
	return out
}

// TestAPassThatCannotStartLeavesNothingLive: a pass whose preparation fails
// (here: moto has no organization to look up) is an error, and nothing
// stays live.
func TestAPassThatCannotStartLeavesNothingLive(t *testing.T) {
	p := newProvider(t, Config{}, NewClients(mototest.Require(t).Config()), ovm.SystemClock())
	p.SetNuker(&awsnuke.Runner{}, NukeConfig{Region: "us-east-1"})
	a := providertest.NewAccount(p)
	a.State, a.AWSAccountID = ovm.AccountCleaning, "210987654321"
	if _, err := p.Clean(context.Background(), a, ovm.RetirePolicy{CleanTimeout: time.Minute, CleanPasses: 1}); err == nil {
		t.Fatal("a pass without an organization succeeded")
	}
	if live := p.LiveProgress(a.ID); live != nil {
		t.Fatalf("live after a failed start: %v", live)
	}
}

func TestAPassStartEventSaysWhatAWSNukeWillLookAt(t *testing.T) {
	for _, c := range []struct {
		params awsnuke.Params
		want   string
	}{
		{awsnuke.Params{Regions: []string{"global", "eu-west-1"}, Exclude: []string{"S3Object"}},
			"cleaning pass 1 started: aws-nuke in global, eu-west-1, every resource type aws-nuke knows except S3Object, for at most 30m0s"},
		{awsnuke.Params{Regions: []string{"us-east-1"}, Include: []string{"IAMUser", "SQSQueue"}},
			"cleaning pass 1 started: aws-nuke in us-east-1, 2 resource types (IAMUser, SQSQueue), for at most 30m0s"},
	} {
		if got := startedReason(1, c.params, 30*time.Minute); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

func TestAProgressEventSaysWhereThePassIs(t *testing.T) {
	start := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		progress awsnuke.Progress
		want     string
	}{
		{awsnuke.Progress{Phase: awsnuke.PhaseScanning, Found: 37, ListErrors: 1},
			"cleaning pass 2 under way for 4m0s: scanning, 37 resources found so far, 1 resource type failed to list"},
		{awsnuke.Progress{Phase: awsnuke.PhaseRemoving, Found: 37, Waiting: 30, Removed: 7},
			"cleaning pass 2 under way for 4m0s: removing, 37 resources found, 30 waiting for deletion, 7 removed, 0 failed"},
	} {
		r := &livePass{number: 2, started: start, progress: c.progress}
		if got := progressReason(r, start.Add(4*time.Minute)); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}
