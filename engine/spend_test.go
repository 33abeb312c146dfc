package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/spend/cloudtrail"
	"github.com/ovmdev/ovm/spend/prices"
)

// spendWorld is a world whose pool spends usdPerHour per leased account,
// through the simulated AWS's queue of CloudTrail events.
func spendWorld(t *testing.T, usdPerHour float64) (*world, *sim.SpendFeed) {
	w := newWorld(t, sim.DefaultConfig(), poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	w.settle(20, 500*time.Millisecond)
	feed := &sim.SpendFeed{Clock: w.clock, Visibility: 30 * time.Second}
	feed.Spend(w.pool.Name, usdPerHour)
	tab := prices.Default()
	tab.Merge([]prices.Entry{{Type: "ec2.instance", Size: sim.SimInstanceType(w.pool.Name), Region: "*", USD: usdPerHour, Unit: prices.UnitHour, Source: "test", Date: "2026-12-05"}})
	w.cfg.Spend.Sources = []ovm.SpendSource{&cloudtrail.Source{Queue: feed, Parser: &cloudtrail.Parser{Prices: tab, OwnRoles: []string{sim.LesseeRole}}}}
	w.build()
	return w, feed
}

func (w *world) spend(leaseID string) ovm.LeaseSpend {
	w.t.Helper()
	g, err := w.store.SpendGet(context.Background(), leaseID)
	if err != nil {
		w.t.Fatal(err)
	}
	return g.Summarize(w.clock.Now())
}

func (w *world) spendRound() {
	w.t.Helper()
	if _, err := w.eng.RunOnce(context.Background(), engine.WorkerSpender); err != nil {
		w.t.Fatal(err)
	}
}

func TestALeasesSpendFollowsItsEventsAndStopsAtItsEnd(t *testing.T) {
	w, feed := spendWorld(t, 2)
	l := w.vend("alice")
	w.spendRound() // the feed launches the lease's instance
	w.spendRound() // and the worker takes the event in
	w.clock.Advance(90 * time.Minute)
	if s := w.spend(l.ID); s.USD != 3 || s.BurnUSDPerHour != 2 {
		t.Fatalf("after 1.5 h: %+v, want 3 USD at 2 USD/h", s)
	}
	if feed.Waiting() != 0 {
		t.Fatalf("%d messages left on the queue: not acknowledged", feed.Waiting())
	}
	ended, err := w.eng.EndLease(context.Background(), mustLease(t, w, l.ID), ovm.LeaseReleased, "key:alice")
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(16 * time.Minute) // past the late events' window
	w.spendRound()
	g, err := w.store.SpendGet(context.Background(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Final || !g.LeaseEnd.Equal(ended.EndedAt) || g.Spend.USD != 3 {
		t.Fatalf("ledger after the end: final %v, end %v (lease ended %v), spend %v", g.Final, g.LeaseEnd, ended.EndedAt, g.Spend.USD)
	}
	w.clock.Advance(10 * time.Hour)
	if s := w.spend(l.ID); s.USD != 3 || s.BurnUSDPerHour != 0 {
		t.Fatalf("an ended lease still spends: %+v", s)
	}
}

func mustLease(t *testing.T, w *world, id string) *ovm.Lease {
	l, err := w.store.LeaseGet(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// kill -9 between the ledger's write and the queue's acknowledgement: the
// message comes again and counts nothing twice.
func TestACrashBeforeTheAcknowledgementCountsNothingTwice(t *testing.T) {
	w, feed := spendWorld(t, 2)
	l := w.vend("alice")
	w.cfg.CrashPoint = func(point string) {
		if point == "spend.after-apply" {
			panic(point)
		}
	}
	w.build()
	var crashed any
	func() {
		defer func() { crashed = recover() }()
		w.spendRound()
		w.spendRound()
	}()
	if crashed != "spend.after-apply" {
		t.Fatalf("no crash at spend.after-apply: %v", crashed)
	}
	w.cfg.CrashPoint = nil
	w.build() // the restart; the queue kept the message in flight
	w.clock.Advance(31 * time.Second)
	w.spendRound()
	if feed.Waiting() != 0 {
		t.Fatalf("%d messages left: the redelivery was not acknowledged", feed.Waiting())
	}
	g, err := w.store.SpendGet(context.Background(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Resources) != 1 || g.Version != 2 {
		t.Fatalf("after the redelivery: %d resources, version %d; want the ledger opened, then the one launch written once", len(g.Resources), g.Version)
	}
	w.clock.Advance(time.Hour - 31*time.Second)
	if s := w.spend(l.ID); s.USD != 2 {
		t.Fatalf("spend %v after an hour, want 2", s.USD)
	}
}

// An event that cannot be read is an error on the lease it names, and is
// not left to come back forever.
func TestAnUnreadableEventIsRecordedOnItsLease(t *testing.T) {
	w := newWorld(t, sim.DefaultConfig(), poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 1 }))
	w.settle(20, 500*time.Millisecond)
	l := w.vend("alice")
	q := &listQueue{bodies: [][]byte{
		cloudtrail.Build(cloudtrail.Spec{ID: "e1", Account: l.AWSAccountID, Region: "us-east-1", At: w.clock.Now(), Name: "RunInstances", Service: "ec2",
			Role: "dev", Response: map[string]any{"instancesSet": map[string]any{"items": "not a list"}}}),
		[]byte(`{"garbage": true}`),
	}}
	w.cfg.Spend.Sources = []ovm.SpendSource{&cloudtrail.Source{Queue: q, Parser: &cloudtrail.Parser{Prices: prices.Default()}}}
	w.build()
	w.spendRound()
	g, err := w.store.SpendGet(context.Background(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Errors) != 1 || g.Errors[0].Source != "events" {
		t.Fatalf("errors on the lease %+v, want the unreadable RunInstances", g.Errors)
	}
	if len(q.deleted) != 2 {
		t.Fatalf("%d of 2 messages acknowledged", len(q.deleted))
	}
}

// listQueue is a queue of fixed bodies: the simulated AWS's feed only
// makes well-formed events, and this test needs broken ones.
type listQueue struct {
	bodies  [][]byte
	deleted []string
}

func (q *listQueue) Receive(context.Context) ([]cloudtrail.Message, error) {
	var out []cloudtrail.Message
	for i, b := range q.bodies {
		out = append(out, cloudtrail.Message{Handle: string(rune('a' + i)), Body: b})
	}
	q.bodies = nil
	return out, nil
}

func (q *listQueue) Delete(_ context.Context, h []string) error {
	q.deleted = append(q.deleted, h...)
	return nil
}

// An event CloudTrail delivers after the lease's end, of a call made in
// it, still counts; one from before the lease's start (the account's
// previous lease) does not.
func TestLateEventsCountForTheirLeaseAndStaleOnesForNone(t *testing.T) {
	w := newWorld(t, sim.DefaultConfig(), poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 1 }))
	w.settle(20, 500*time.Millisecond)
	l := w.vend("alice")
	q := &listQueue{}
	w.cfg.Spend.Sources = []ovm.SpendSource{&cloudtrail.Source{Queue: q, Parser: &cloudtrail.Parser{Prices: prices.Default()}}}
	w.build()
	w.spendRound() // the worker sees the lease active: its ledger is opened
	launch := func(id string, at time.Time) []byte {
		return cloudtrail.Build(cloudtrail.Spec{ID: id, Account: l.AWSAccountID, Region: "us-east-1", At: at, Name: "RunInstances", Service: "ec2",
			Role: "dev", SourceIdentity: "alice", Response: map[string]any{"instancesSet": map[string]any{"items": []any{
				map[string]any{"instanceId": "i-" + id, "instanceType": "m5.large"}}}}})
	}
	w.clock.Advance(time.Hour)
	if _, err := w.eng.EndLease(context.Background(), mustLease(t, w, l.ID), ovm.LeaseReleased, "key:alice"); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(5 * time.Minute)
	q.bodies = [][]byte{launch("late", l.CreatedAt.Add(30*time.Minute)), launch("stale", l.CreatedAt.Add(-time.Minute))}
	w.spendRound()
	g, err := w.store.SpendGet(context.Background(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Resources) != 1 || g.Resources[0].ID != "i-late" {
		t.Fatalf("resources %+v: want the late launch only", g.Resources)
	}
	if len(q.deleted) != 2 {
		t.Fatalf("%d of 2 acknowledged", len(q.deleted))
	}
	w.clock.Advance(11 * time.Minute)
	w.spendRound()
	if g, _ = w.store.SpendGet(context.Background(), l.ID); !g.Final || g.Spend.USD != 0.048 {
		t.Fatalf("closed ledger: final %v, spend %v; want half an hour of m5.large (0.048)", g.Final, g.Spend.USD)
	}
}
