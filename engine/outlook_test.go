package engine_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
)

func TestAnEmptyPoolsOutlookNamesTheReasonAndTheTime(t *testing.T) {
	now := t0
	pol := poolPolicy(func(p *ovm.Pool) { p.Stock.MinSpacing = time.Hour })
	counts := func(m map[ovm.AccountState]int) *ovm.PoolCounts { return &ovm.PoolCounts{ByState: m} }
	creating := &ovm.Account{State: ovm.AccountCreating, CreatedAt: now.Add(-40 * time.Second), NextAttemptAt: now.Add(10 * time.Second)}
	cases := []struct {
		name       string
		in         engine.OutlookInput
		reason     string
		retryAfter time.Duration
	}{
		{"an account on the way, with a known build time: the rest of it",
			engine.OutlookInput{Policy: pol, Counts: counts(map[ovm.AccountState]int{ovm.AccountCreating: 1}),
				OnTheWay: []*ovm.Account{creating}, BuildTime: 90 * time.Second},
			"refilling: 1 account(s) on the way (1 creating)", 50 * time.Second},
		{"an account on the way, build time not yet seen: its next step",
			engine.OutlookInput{Policy: pol, Counts: counts(map[ovm.AccountState]int{ovm.AccountCreating: 1}),
				OnTheWay: []*ovm.Account{creating}},
			"on the way", 10 * time.Second},
		{"the close quota: its next free slot and a build",
			engine.OutlookInput{Policy: pol, Counts: counts(nil), BuildTime: time.Minute,
				Quota: &ovm.Quota{Limit: 10, Used: 10, NextFreeAt: now.Add(72 * time.Hour)},
				Plan:  engine.Plan{Limit: engine.LimitCloseQuota, Why: "close quota: 0 closures left"}},
			"no account is being made: close quota: 0 closures left", 72*time.Hour + time.Minute},
		{"min spacing: the next creation and a build",
			engine.OutlookInput{Policy: pol, Counts: counts(nil), BuildTime: time.Minute,
				Plan: engine.Plan{Limit: engine.LimitMinSpacing, Why: "min_spacing: next creation at ...", NextAt: now.Add(30 * time.Minute)}},
			"min_spacing", 31 * time.Minute},
		{"the breaker: when it lifts",
			engine.OutlookInput{Policy: pol, Counts: counts(nil), BuildTime: time.Minute, BreakerLiftsAt: now.Add(20 * time.Minute),
				Plan: engine.Plan{Limit: engine.LimitBreaker, Why: "stopped: 3 creations failed for good"}},
			"the stock planner is stopped", 21 * time.Minute},
		{"the ceiling: the first lease's end and a build",
			engine.OutlookInput{Policy: pol, Counts: counts(map[ovm.AccountState]int{ovm.AccountLeased: 20}), BuildTime: time.Minute,
				NextLeaseEnd: now.Add(2 * time.Hour), Plan: engine.Plan{Limit: engine.LimitCeiling, Why: "ceiling of 20 live accounts reached"}},
			"accounts come back as leases end", 2*time.Hour + time.Minute},
		{"the ceiling reached by quarantined accounts: an operator must act",
			engine.OutlookInput{Policy: pol, Counts: counts(map[ovm.AccountState]int{ovm.AccountQuarantined: 20}), BuildTime: time.Minute,
				Plan: engine.Plan{Limit: engine.LimitCeiling, Why: "ceiling of 20 live accounts reached"}},
			"20 of them quarantined and waiting for an operator", 5 * time.Minute},
		{"ordering now: a tick and a build",
			engine.OutlookInput{Policy: pol, Counts: counts(nil), Tick: time.Second, BuildTime: time.Minute, Plan: engine.Plan{Create: 3}},
			"ordering 3 account(s) now", 61 * time.Second},
		{"no stock kept",
			engine.OutlookInput{Policy: poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 0 }), Counts: counts(nil)},
			"stock.target is 0", time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := engine.DecideOutlook(c.in, now)
			if !strings.Contains(o.Reason, c.reason) || o.RetryAfter != c.retryAfter {
				t.Fatalf("outlook %q in %s, want %q in %s", o.Reason, o.RetryAfter, c.reason, c.retryAfter)
			}
			if want := strings.Contains(c.name, "an operator must act"); o.WaitsForOperator != want {
				t.Fatalf("waits for an operator: %v, want %v", o.WaitsForOperator, want)
			}
		})
	}
}

// listBarrier lets AccountListDue answer only once two runners have asked,
// so both hold the same due account before either claims it.
type listBarrier struct {
	ovm.Store
	wg *sync.WaitGroup
}

func (b listBarrier) AccountListDue(ctx context.Context, p *ovm.AccountListDueParams) ([]*ovm.Account, error) {
	due, err := b.Store.AccountListDue(ctx, p)
	b.wg.Done()
	b.wg.Wait()
	return due, err
}

func TestTwoRunnersRacingForOneAccountRunItsStepOnce(t *testing.T) {
	// A creation that takes hours: every round polls the same account.
	w := newWorld(t, sim.Config{CreateLatency: 10 * time.Hour}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 1 }))
	if n, err := w.eng.RunOnce(context.Background(), engine.WorkerPlanner); n != 1 || err != nil {
		t.Fatalf("ordered %d (%v)", n, err)
	}
	var calls atomic.Int64
	w.sim.SetHook(func(sim.Op, *ovm.Account) error { calls.Add(1); return nil })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for round := range 5 {
		var barrier sync.WaitGroup
		barrier.Add(2)
		st := listBarrier{Store: w.store, wg: &barrier}
		pools := []engine.Pool{{Policy: w.pool, Provider: w.sim}}
		a, _ := engine.New(st, pools, w.clock, log, engine.Config{Instance: "a"})
		b, _ := engine.New(st, pools, w.clock, log, engine.Config{Instance: "b"})
		before := calls.Load()
		var ran [2]int
		var wg sync.WaitGroup
		for i, e := range []*engine.Engine{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); ran[i], _ = e.RunOnce(context.Background(), engine.WorkerRunner) }()
		}
		wg.Wait()
		if got := calls.Load() - before; got != 1 || ran[0]+ran[1] != 1 {
			t.Fatalf("round %d: the step ran %d time(s) (runners report %v), want once", round, got, ran)
		}
		w.clock.Advance(6 * time.Minute) // past the claim and the next poll
	}
}

// pinSim is the simulated provider with the phone-verification capability.
type pinSim struct{ *sim.Provider }

func (pinSim) PIN(number string) (string, bool) { return "4729", number == "+15550100" }

func TestThePINComesFromThePoolThatVerifiesTheNumber(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy())
	other := poolPolicy(func(p *ovm.Pool) { p.Name = "mgmt" })
	e, err := engine.New(w.store, []engine.Pool{{Policy: w.pool, Provider: w.sim}, {Policy: other, Provider: pinSim{w.sim}}},
		w.clock, slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if pin, ok := e.PIN("+15550100"); !ok || pin != "4729" {
		t.Fatalf("PIN = %q, %v", pin, ok)
	}
	if _, ok := e.PIN("+15550199"); ok {
		t.Fatal("a PIN for a number no verification waits on")
	}
}
