package ovm_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

var spendT0 = time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)

func spendLedger() *ovm.SpendLedger {
	return ovm.NewSpendLedger(&ovm.Lease{ID: "l-1", AWSAccountID: "111122223333", Pool: "p", Owner: "o", CreatedAt: spendT0})
}

func launch(id string, at time.Time, usd float64) []*ovm.SpendChange {
	return []*ovm.SpendChange{{At: at, Action: ovm.SpendStart, Type: "ec2.instance", Region: "eu-west-1", ID: id, Size: "m5.large", USDPerHour: usd}}
}

func change(a ovm.SpendAction, id string, at time.Time) []*ovm.SpendChange {
	return []*ovm.SpendChange{{At: at, Action: a, Type: "ec2.instance", Region: "eu-west-1", ID: id}}
}

func TestSpendLedgerPricesRunningTimeSplitByDay(t *testing.T) {
	g := spendLedger()
	g.Apply("e1", launch("i-1", spendT0, 1))
	g.Apply("e2", change(ovm.SpendStop, "i-1", spendT0.Add(3*time.Hour))) // 2 h on Dec 1, 1 h on Dec 2
	g.Apply("e3", change(ovm.SpendStart, "i-1", spendT0.Add(5*time.Hour)))
	s := g.Summarize(spendT0.Add(6 * time.Hour))
	if s.USD != 4 || s.EstimatedUSD != 4 || s.BurnUSDPerHour != 1 {
		t.Fatalf("spend %+v, want 4 USD at 1 USD/h", s)
	}
	if want := map[string]float64{"2026-12-01": 2, "2026-12-02": 2}; !reflect.DeepEqual(s.Daily, want) {
		t.Fatalf("daily %v, want %v", s.Daily, want)
	}
	g.Apply("e4", change(ovm.SpendDelete, "i-1", spendT0.Add(7*time.Hour)))
	if s := g.Summarize(spendT0.Add(100 * time.Hour)); s.USD != 5 || s.BurnUSDPerHour != 0 {
		t.Fatalf("after the termination %+v, want 5 USD and no burn", s)
	}
	g.Apply("e5", change(ovm.SpendStart, "i-1", spendT0.Add(6*time.Hour)))
	if s := g.Summarize(spendT0.Add(100 * time.Hour)); s.USD != 5 {
		t.Fatalf("a start older than the deletion, arriving after it, counted: %+v", s)
	}
}

func TestSpendLedgerAppliesAnEventOnce(t *testing.T) {
	g := spendLedger()
	if !g.Apply("e1", launch("i-1", spendT0, 1)) {
		t.Fatal("first apply refused")
	}
	g.Apply("e2", change(ovm.SpendStop, "i-1", spendT0.Add(time.Hour)))
	if g.Apply("e1", launch("i-1", spendT0, 1)) || g.Apply("e2", change(ovm.SpendStop, "i-1", spendT0.Add(2*time.Hour))) {
		t.Fatal("a redelivered event was applied again")
	}
	if s := g.Summarize(spendT0.Add(10 * time.Hour)); s.USD != 1 {
		t.Fatalf("spend %v after redeliveries, want 1", s.USD)
	}
	if g.Apply("failed", nil) || g.HasSeen("failed") {
		t.Fatal("an event without changes is remembered: failed calls would push real ones out")
	}
	for i := range ovm.MaxSpendSeen + 10 {
		g.Apply(fmt.Sprintf("x%d", i), change(ovm.SpendStop, "i-x", spendT0.Add(time.Duration(i)*time.Second)))
	}
	if len(g.Seen) != ovm.MaxSpendSeen {
		t.Fatalf("%d seen ids kept, want the bound %d", len(g.Seen), ovm.MaxSpendSeen)
	}
	if !g.HasSeen(fmt.Sprintf("x%d", ovm.MaxSpendSeen+9)) || g.HasSeen("x0") {
		t.Fatal("the bound forgets the newest instead of the oldest")
	}
}

func TestSpendLedgerCountsFromTheLeaseStartAndStopsAtItsEnd(t *testing.T) {
	g := spendLedger()
	g.Apply("e1", launch("i-1", spendT0.Add(-5*time.Hour), 2)) // launched before the lease
	g.End(spendT0.Add(90 * time.Minute))
	if g.Spend.USD != 3 || !g.Final {
		t.Fatalf("final spend %+v, want 3 USD (1.5 h at 2)", g.Spend)
	}
	if g.Apply("e2", launch("i-2", spendT0, 100)) {
		t.Fatal("a final ledger took a change")
	}
	if s := g.Summarize(spendT0.Add(1000 * time.Hour)); s.USD != 3 || s.BurnUSDPerHour != 0 {
		t.Fatalf("an ended lease still burns: %+v", s)
	}
}

func TestSpendLedgerModifyRepricesARunningResourceOnly(t *testing.T) {
	g := spendLedger()
	g.Apply("e1", launch("i-1", spendT0, 1))
	g.Apply("e2", []*ovm.SpendChange{{At: spendT0.Add(time.Hour), Action: ovm.SpendModify, Type: "ec2.instance", Region: "eu-west-1", ID: "i-1", Size: "m5.xlarge", USDPerHour: 2}})
	if s := g.Summarize(spendT0.Add(2 * time.Hour)); s.USD != 3 || s.BurnUSDPerHour != 2 {
		t.Fatalf("spend %+v, want 1 + 2", s)
	}
	g.Apply("e3", []*ovm.SpendChange{{At: spendT0, Action: ovm.SpendModify, Type: "rds.instance", Region: "eu-west-1", ID: "db", Size: "db.m5.large", USDPerHour: 5}})
	if s := g.Summarize(spendT0.Add(2 * time.Hour)); s.USD != 3 {
		t.Fatalf("a resize of an unknown resource started it: %+v", s)
	}
}

func TestUnpricedResourcesAreNamedNeverFree(t *testing.T) {
	g := spendLedger()
	g.Apply("e1", []*ovm.SpendChange{{At: spendT0, Action: ovm.SpendStart, Type: "sagemaker.endpoint", Region: "us-east-1", ID: "ep", Size: "ml.p5.48xlarge", Unpriced: true}})
	s := g.Summarize(spendT0.Add(time.Hour))
	if !reflect.DeepEqual(s.Unpriced, []string{"sagemaker.endpoint"}) {
		t.Fatalf("unpriced %v", s.Unpriced)
	}
	for i := range ovm.MaxSpendResources + 1 {
		g.Apply(fmt.Sprintf("r%d", i), launch(fmt.Sprintf("i-%d", i), spendT0, 0.01))
	}
	if g.Overflow == 0 || len(g.Resources) != ovm.MaxSpendResources {
		t.Fatalf("%d resources, overflow %d: the bound does not hold", len(g.Resources), g.Overflow)
	}
	if s := g.Summarize(spendT0.Add(time.Hour)); !reflect.DeepEqual(s.Unpriced, []string{"overflow", "sagemaker.endpoint"}) {
		t.Fatalf("resources beyond the bound are not flagged: %v", s.Unpriced)
	}
}

func TestSweepAddsMissedLaunchesAndStopsWhatIsGoneButNotInUnreachedRegions(t *testing.T) {
	g := spendLedger()
	g.Apply("e1", launch("i-gone", spendT0, 1))
	g.Apply("e2", []*ovm.SpendChange{{At: spendT0, Action: ovm.SpendStart, Type: "ec2.instance", Region: "us-east-1", ID: "i-far", Size: "t3.micro", USDPerHour: 1}})
	at := spendT0.Add(2 * time.Hour)
	g.Sweep(at, &ovm.SpendSweepResult{Types: []string{"ec2.instance"}, Reached: []string{"eu-west-1"}, Found: []ovm.SweptResource{
		{Type: "ec2.instance", Region: "eu-west-1", ID: "i-missed", Size: "t3.micro", Running: true, Since: spendT0.Add(time.Hour), USDPerHour: 0.5},
		{Type: "ec2.instance", Region: "eu-west-1", ID: "i-before", Size: "t3.micro", Running: true, Since: spendT0.Add(-48 * time.Hour), USDPerHour: 0.5},
	}})
	s := g.Summarize(spendT0.Add(4 * time.Hour))
	// i-gone: 2 h at 1; i-far (us-east-1, not reached): 4 h at 1;
	// i-missed: 3 h at 0.5; i-before: from the lease start, 4 h at 0.5.
	if s.USD != 2+4+1.5+2 {
		t.Fatalf("spend %v after the sweep, want 9.5", s.USD)
	}
	if s.BurnUSDPerHour != 2 {
		t.Fatalf("burn %v, want 2", s.BurnUSDPerHour)
	}
}

// A type the sweep could not list in a Region (access denied, the service
// not offered there) says nothing of what runs of it there: its resources
// keep running, while the other types of that Region, and that type in the
// other Regions, are corrected.
func TestASweepKeepsWhatRunsOfATypeItCouldNotListInARegion(t *testing.T) {
	g := spendLedger()
	db := func(id, region string) []*ovm.SpendChange {
		return []*ovm.SpendChange{{At: spendT0, Action: ovm.SpendStart, Type: "rds.instance", Region: region, ID: id, Size: "db.m5.large", USDPerHour: 1}}
	}
	g.Apply("e1", db("db-unlisted", "eu-west-1"))
	g.Apply("e2", db("db-gone", "us-east-1"))
	g.Apply("e3", launch("i-gone", spendT0, 1))
	at := spendT0.Add(time.Hour)
	g.Sweep(at, &ovm.SpendSweepResult{Types: []string{"ec2.instance", "rds.instance"}, Reached: []string{"eu-west-1", "us-east-1"},
		Skipped: map[string][]string{"eu-west-1": {"rds.instance"}}, Errors: []string{"eu-west-1 rds.instance: AccessDenied"}})
	for _, r := range g.Resources {
		if want := r.ID == "db-unlisted"; r.Running() != want {
			t.Errorf("%s running %v after the sweep, want %v", r.ID, r.Running(), want)
		}
	}
	if s := g.Summarize(spendT0.Add(3 * time.Hour)); s.BurnUSDPerHour != 1 || s.USD != 3+1+1 {
		t.Fatalf("spend %v burning %v, want 5 burning 1 (the unlisted database kept)", s.USD, s.BurnUSDPerHour)
	}
}

func TestReportedCostWinsForReportedDaysOnly(t *testing.T) {
	g := spendLedger()
	g.Apply("e1", launch("i-1", spendT0, 1)) // 2 h on Dec 1, then 24 h a day
	g.Report(spendT0.Add(26*time.Hour), map[string]float64{"2026-12-01": 5})
	s := g.Summarize(spendT0.Add(26 * time.Hour))
	if s.USD != 5+24 || s.EstimatedUSD != 26 || s.ReportedUSD != 5 {
		t.Fatalf("spend %+v, want 29 (5 reported for Dec 1, 24 estimated for Dec 2)", s)
	}
	g.Report(spendT0.Add(26*time.Hour), map[string]float64{"2026-12-01": 1})
	if s := g.Summarize(spendT0.Add(26 * time.Hour)); s.USD != 26 {
		t.Fatalf("a report below the estimate lowered the spend: %v", s.USD)
	}
	if diff, days := g.EstimateError(); diff != 1 || days != 1 {
		t.Fatalf("estimate error %v over %d days, want +1 over 1", diff, days)
	}
}

func TestAStartOfAnUnknownResourceIsUnpricedUntilASweepSizesIt(t *testing.T) {
	g := spendLedger()
	g.Apply("e1", change(ovm.SpendStart, "i-1", spendT0))
	if s := g.Summarize(spendT0.Add(time.Hour)); len(s.Unpriced) != 1 {
		t.Fatalf("a start without a size is free: %+v", s)
	}
	g.Sweep(spendT0.Add(time.Hour), &ovm.SpendSweepResult{Types: []string{"ec2.instance"}, Reached: []string{"eu-west-1"}, Found: []ovm.SweptResource{
		{Type: "ec2.instance", Region: "eu-west-1", ID: "i-1", Size: "m5.large", Running: true, USDPerHour: 1}}})
	if s := g.Summarize(spendT0.Add(3 * time.Hour)); len(s.Unpriced) != 0 || s.USD != 2 {
		t.Fatalf("after the sweep %+v, want 2 USD priced", s)
	}
}

// Queues do not keep order: whatever order a resource's events arrive
// in, the ledger counts what ran.
func TestTheLedgerDoesNotDependOnTheOrderEventsArriveIn(t *testing.T) {
	db := func(a ovm.SpendAction, at time.Duration) []*ovm.SpendChange {
		return []*ovm.SpendChange{{At: spendT0.Add(at), Action: a, Type: "rds.instance", Region: "eu-west-1", ID: "db1", Size: "db.m5.large", USDPerHour: 1}}
	}
	end := spendT0.Add(100 * time.Hour)
	for name, c := range map[string]struct {
		events [][]*ovm.SpendChange
		want   float64
	}{
		"the delete before the create": {[][]*ovm.SpendChange{db(ovm.SpendDelete, 10*time.Hour), db(ovm.SpendStart, 0)}, 10},
		"the stop, then a restart, before the start": {[][]*ovm.SpendChange{db(ovm.SpendStop, 5*time.Hour), db(ovm.SpendStart, 0),
			db(ovm.SpendStart, 8*time.Hour)}, 5 + 92},
		"the stop before the start":       {[][]*ovm.SpendChange{db(ovm.SpendStart, 0), db(ovm.SpendStop, 5*time.Hour), db(ovm.SpendStart, 3*time.Hour)}, 5},
		"a name used again after deleted": {[][]*ovm.SpendChange{db(ovm.SpendStart, 0), db(ovm.SpendDelete, 10*time.Hour), db(ovm.SpendStart, 20*time.Hour)}, 90},
	} {
		g := spendLedger()
		for i, e := range c.events {
			g.Apply(fmt.Sprint(i), e)
		}
		if s := g.Summarize(end); s.USD != c.want {
			t.Errorf("%s: %v USD, want %v", name, s.USD, c.want)
		}
	}
}

// A lessee who makes and deletes resources by the hundred cannot blind
// the ledger to the next ones: deleted resources are folded away, their
// cost kept.
func TestDeletedResourcesMakeRoomAndKeepTheirCost(t *testing.T) {
	g := spendLedger()
	for i := range ovm.MaxSpendResources {
		id := fmt.Sprintf("vol-%d", i)
		g.Apply("c"+id, []*ovm.SpendChange{{At: spendT0, Action: ovm.SpendStart, Type: "ebs.volume", Region: "eu-west-1", ID: id, Size: "gp3:1", USDPerHour: 1}})
		g.Apply("d"+id, []*ovm.SpendChange{{At: spendT0.Add(time.Hour), Action: ovm.SpendDelete, Type: "ebs.volume", Region: "eu-west-1", ID: id}})
	}
	g.Apply("big", []*ovm.SpendChange{{At: spendT0.Add(time.Hour), Action: ovm.SpendStart, Type: "ec2.instance", Region: "eu-west-1", ID: "i-big", Size: "p4d.24xlarge", USDPerHour: 32}})
	s := g.Summarize(spendT0.Add(2 * time.Hour))
	if g.Overflow != 0 || s.BurnUSDPerHour != 32 || s.USD != float64(ovm.MaxSpendResources)+32 || len(s.Unpriced) != 0 {
		t.Fatalf("overflow %d, spend %+v: want the volumes' %d USD kept and the instance counted", g.Overflow, s, ovm.MaxSpendResources)
	}
}

// A resource that stops by itself (a training job's longest run) stops
// counting then.
func TestAResourceWithAnEndStopsCountingThere(t *testing.T) {
	g := spendLedger()
	g.Apply("job", []*ovm.SpendChange{{At: spendT0, Action: ovm.SpendStart, Type: "sagemaker.training", Region: "eu-west-1", ID: "job",
		Size: "ml.m5.large:1", USDPerHour: 1, Until: spendT0.Add(2 * time.Hour)}})
	if s := g.Summarize(spendT0.Add(10 * time.Hour)); s.USD != 2 || s.BurnUSDPerHour != 0 {
		t.Fatalf("spend %+v, want 2 USD and no burn after the job's end", s)
	}
}
