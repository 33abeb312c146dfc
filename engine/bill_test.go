package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// billOf is a CostReporter of fixed figures. It fills the gap that moto's
// Cost Explorer leaves: moto answers GetCostAndUsage with no cost for the
// simulated accounts, and the real client (spend/costexplorer) is tested
// against moto on its own.
type billOf struct {
	mu    sync.Mutex
	daily map[string]map[string]float64
	calls int
}

func (b *billOf) DailyCost(_ context.Context, ids []string, _, _ time.Time) (map[string]map[string]float64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	out := map[string]map[string]float64{}
	for _, id := range ids {
		if d, ok := b.daily[id]; ok {
			out[id] = d
		}
	}
	return out, nil
}

func (w *world) billedNotices(leaseID string) []*ovm.Notification {
	w.t.Helper()
	ds, _, err := w.store.DeliveryList(context.Background(), &ovm.DeliveryListParams{PageParams: ovm.PageParams{Limit: 1000}})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []*ovm.Notification
	for _, d := range ds {
		if d.Event.Type == ovm.NotifyLeaseBilled && d.Event.LeaseID == leaseID {
			out = append(out, d.Event)
		}
	}
	return out
}

// endAndClose ends lease l and lets the worker close its ledger.
func (w *world) endAndClose(l *ovm.Lease) {
	w.t.Helper()
	if _, err := w.eng.EndLease(context.Background(), mustLease(w.t, w, l.ID), ovm.LeaseReleased, "key:"+l.Owner); err != nil {
		w.t.Fatal(err)
	}
	w.clock.Advance(16 * time.Minute)
	w.spendRound()
	if g, err := w.store.SpendGet(context.Background(), l.ID); err != nil || !g.Final {
		w.t.Fatalf("the ledger is not closed: %v", err)
	}
}

// Without Cost Explorer, a lease's bill is its estimate once spend.settle
// has passed: recorded once, sent once as lease.billed.
func TestWithoutABillTheEstimateIsSettledAfterTheSettleTime(t *testing.T) {
	w := budgetWorld(t, 2, nil)
	w.cfg.Spend.Settle = 48 * time.Hour
	w.build()
	l := w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	w.clock.Advance(3 * time.Hour)
	w.endAndClose(l)
	w.clock.Advance(47 * time.Hour)
	w.spendRound()
	if g, _ := w.store.SpendGet(context.Background(), l.ID); g.Billed != nil {
		t.Fatalf("billed before the settle time: %+v", g.Billed)
	}
	w.clock.Advance(2 * time.Hour)
	w.spendRound()
	g, _ := w.store.SpendGet(context.Background(), l.ID)
	if g.Billed == nil || g.Billed.Source != ovm.BillEstimate || g.Billed.USD != 6 {
		t.Fatalf("after the settle time: %+v, want the 6 USD estimate", g.Billed)
	}
	w.clock.Advance(2 * time.Hour)
	w.spendRound()
	ns := w.billedNotices(l.ID)
	if len(ns) != 1 || ns[0].Bill == nil || ns[0].Bill.USD != 6 || ns[0].Owner != "alice" {
		t.Fatalf("lease.billed: %+v", ns)
	}
}

// With Cost Explorer, the bill is settled as soon as every day of the
// lease is reported, with AWS's figures.
func TestABillIsSettledOnceCostExplorerReportedEveryDay(t *testing.T) {
	w := budgetWorld(t, 2, nil)
	rep := &billOf{daily: map[string]map[string]float64{}}
	w.cfg.Spend.Reporter, w.cfg.Spend.ReconcileInterval = rep, time.Hour
	w.build()
	l := w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	w.clock.Advance(3 * time.Hour)
	w.endAndClose(l)
	cur := mustLease(t, w, l.ID)
	day := cur.CreatedAt.UTC().Format(time.DateOnly)
	days := []string{day}
	if e := cur.EndedAt.UTC().Format(time.DateOnly); e != day {
		days = append(days, e)
	}
	w.clock.Advance(time.Hour)
	w.spendRound()
	if g, _ := w.store.SpendGet(context.Background(), l.ID); g.Billed != nil {
		t.Fatal("billed before any day was reported")
	}
	rep.mu.Lock()
	rep.daily[l.AWSAccountID] = map[string]float64{}
	for _, d := range days {
		rep.daily[l.AWSAccountID][d] = 7.5
	}
	rep.mu.Unlock()
	w.clock.Advance(time.Hour)
	w.spendRound()
	g, _ := w.store.SpendGet(context.Background(), l.ID)
	if g.Billed == nil || g.Billed.Source != ovm.BillCostExplorer || g.Billed.USD != 7.5*float64(len(days)) {
		t.Fatalf("every day reported: %+v", g.Billed)
	}
	if ns := w.billedNotices(l.ID); len(ns) != 1 || ns[0].Bill.Source != ovm.BillCostExplorer {
		t.Fatalf("lease.billed: %+v", ns)
	}
}

// kill -9 between the lease.billed notification and the bill's record:
// the retry writes no second notification and records the figures sent,
// even when Cost Explorer reported meanwhile.
func TestACrashBetweenTheBillsNotificationAndItsRecordSendsItOnce(t *testing.T) {
	w := budgetWorld(t, 2, nil)
	rep := &billOf{daily: map[string]map[string]float64{}}
	w.cfg.Spend.Settle, w.cfg.Spend.Reporter, w.cfg.Spend.ReconcileInterval = time.Hour, rep, time.Hour
	w.build()
	l := w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	w.clock.Advance(3 * time.Hour)
	w.endAndClose(l)
	w.clock.Advance(2 * time.Hour)
	w.cfg.CrashPoint = func(p string) {
		if p == "bill.after-notify" {
			panic(p)
		}
	}
	w.build()
	var crashed any
	func() {
		defer func() { crashed = recover() }()
		w.spendRound()
	}()
	if crashed != "bill.after-notify" {
		t.Fatalf("no crash at bill.after-notify: %v", crashed)
	}
	w.cfg.CrashPoint = nil
	w.build()
	rep.mu.Lock() // AWS reports meanwhile: the retry would compute another bill
	rep.daily[l.AWSAccountID] = map[string]float64{}
	for d := l.CreatedAt.UTC().Truncate(24 * time.Hour); d.Before(w.clock.Now()); d = d.Add(24 * time.Hour) {
		rep.daily[l.AWSAccountID][d.Format(time.DateOnly)] = 50
	}
	rep.mu.Unlock()
	w.clock.Advance(time.Hour)
	w.spendRound()
	g, _ := w.store.SpendGet(context.Background(), l.ID)
	ns := w.billedNotices(l.ID)
	if g.Billed == nil || len(ns) != 1 || ns[0].Bill.USD != g.Billed.USD || g.Billed.USD != 6 || g.Billed.Source != ns[0].Bill.Source {
		t.Fatalf("after the restart: bill %+v, %d notifications", g.Billed, len(ns))
	}
}
