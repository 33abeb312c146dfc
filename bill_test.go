package ovm_test

import (
	"math"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

func endedLedger(start, end time.Time, usdPerHour float64) *ovm.SpendLedger {
	g := ovm.NewSpendLedger(&ovm.Lease{ID: "lse_1", AWSAccountID: "111122223333", Pool: "p", Owner: "alice", CreatedAt: start})
	g.Apply("run", []*ovm.SpendChange{{EventID: "run", At: start, Action: ovm.SpendStart, Type: "ec2.instance", Region: "us-east-1",
		ID: "i-1", Size: "m5.large", USDPerHour: usdPerHour}})
	g.End(end)
	return g
}

// A bill waits for every day of the lease to be reported, or for settle
// to pass; it says what it rests on.
func TestABillWaitsForEveryDayOrTheSettleTime(t *testing.T) {
	start := time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)
	end := start.Add(10 * time.Hour) // 20:00 to 06:00: two UTC days
	g := endedLedger(start, end, 1)
	if days := g.LeaseDays(); len(days) != 2 || days[0] != "2026-12-03" || days[1] != "2026-12-04" {
		t.Fatalf("lease days %v", days)
	}
	if b := g.Settle(end.Add(time.Hour), 48*time.Hour); b != nil {
		t.Fatalf("settled with no day reported, an hour after the end: %+v", b)
	}
	g.Report(end, map[string]float64{"2026-12-03": 4.5})
	if b := g.Settle(end.Add(time.Hour), 48*time.Hour); b != nil {
		t.Fatal("settled with one day of two reported")
	}
	mixed := g.Settle(end.Add(48*time.Hour), 48*time.Hour)
	if mixed == nil || mixed.Source != ovm.BillMixed || mixed.USD != 4.5+6 || mixed.EstimatedUSD != 10 {
		t.Fatalf("at the settle time: %+v, want 4.50 billed + 6.00 estimated", mixed)
	}
	g.Report(end, map[string]float64{"2026-12-04": 5.75})
	full := g.Settle(end.Add(time.Hour), 48*time.Hour)
	if full == nil || full.Source != ovm.BillCostExplorer || full.USD != 10.25 || full.Days["2026-12-04"] != 5.75 {
		t.Fatalf("every day reported: %+v", full)
	}
	g.Billed = full
	if g.Settle(end.Add(50*time.Hour), 48*time.Hour) != nil {
		t.Fatal("a bill made twice")
	}
	open := ovm.NewSpendLedger(&ovm.Lease{ID: "lse_2", CreatedAt: start})
	if open.Settle(end.Add(100*time.Hour), time.Hour) != nil {
		t.Fatal("an open ledger was billed")
	}
	if est := endedLedger(start, end, 1).Settle(end.Add(48*time.Hour), 48*time.Hour); est == nil || est.Source != ovm.BillEstimate || est.USD != 10 {
		t.Fatalf("nothing reported, settle passed: %+v", est)
	}
}

// A day two leases of a recycled account shared is split in the ratio of
// their estimates, or of their time when neither estimated anything; a day
// one lease had alone is its own.
func TestASharedDayIsSplitByTheEstimatesOrByTime(t *testing.T) {
	d := func(h int) time.Time { return time.Date(2026, 12, 4, h, 0, 0, 0, time.UTC) }
	now := d(23)
	a := &ovm.SpendSummary{LeaseID: "a", AWSAccount: "111", LeaseStart: d(0).Add(-24 * time.Hour), LeaseEnd: d(6), AsOf: d(6),
		Estimated: map[string]float64{"2026-12-03": 10, "2026-12-04": 3}}
	b := &ovm.SpendSummary{LeaseID: "b", AWSAccount: "111", LeaseStart: d(8), AsOf: d(8), Estimated: map[string]float64{},
		Burn: []ovm.SpendBurn{{USDPerHour: 0.6}}} // 9 USD by 23:00
	other := &ovm.SpendSummary{LeaseID: "c", AWSAccount: "222", LeaseStart: d(1), LeaseEnd: d(2), AsOf: d(2)}
	bill := map[string]map[string]float64{"111": {"2026-12-03": 12, "2026-12-04": 24}, "222": {"2026-12-04": 1}}
	split := ovm.SplitShared(bill, []*ovm.SpendSummary{a, b, other}, now)
	if split["a"]["2026-12-03"] != 12 {
		t.Fatalf("a's own day: %v", split["a"])
	}
	if math.Abs(split["a"]["2026-12-04"]-6) > 1e-6 || math.Abs(split["b"]["2026-12-04"]-18) > 1e-6 {
		t.Fatalf("the shared day by 3:9 estimates: a %v, b %v; want 6 and 18", split["a"]["2026-12-04"], split["b"]["2026-12-04"])
	}
	if split["c"]["2026-12-04"] != 1 {
		t.Fatalf("another account's day: %v", split["c"])
	}
	// Neither estimated anything: by time (6 h and 15 h).
	a.Estimated, b.Burn = nil, nil
	split = ovm.SplitShared(bill, []*ovm.SpendSummary{a, b}, now)
	if math.Abs(split["a"]["2026-12-04"]-24*6/21.0) > 1e-5 || math.Abs(split["b"]["2026-12-04"]-24*15/21.0) > 1e-5 {
		t.Fatalf("by time: a %v, b %v", split["a"]["2026-12-04"], split["b"]["2026-12-04"])
	}
}
