package engine_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
)

// oldTrustSim is the simulated provider whose accounts' roles were
// bootstrapped by an older OVM: each account's trust is repaired once. It
// stands in for a real provider's RepairTrust (the repair itself is shown
// against moto in provider/awsorgs); this tests the engine's bookkeeping.
type oldTrustSim struct {
	*sim.Provider
	mu    sync.Mutex
	calls map[string]int
}

func (s *oldTrustSim) RepairTrust(_ context.Context, a *ovm.Account) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[a.ID]++
	return s.calls[a.ID] == 1, nil
}

// The drift check repairs the trust of ready accounts an older OVM
// bootstrapped, once per account, and says so in the account's log.
func TestTheDriftCheckRepairsAnOldTrustOncePerReadyAccount(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 3 }))
	w.settle(5, time.Second)
	ot := &oldTrustSim{Provider: w.sim, calls: map[string]int{}}
	eng, err := engine.New(w.store, []engine.Pool{{Policy: w.pool, Provider: ot}}, w.clock, slog.New(slog.DiscardHandler), engine.Config{Instance: "drift"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
		if _, err := eng.RunOnce(ctx, engine.WorkerDrift); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(time.Minute)
	}
	accts, _, _ := w.store.AccountList(ctx, &ovm.AccountListParams{State: ovm.AccountReady})
	if len(accts) != 3 || len(ot.calls) != 3 {
		t.Fatalf("%d ready accounts, %d checked", len(accts), len(ot.calls))
	}
	for _, a := range accts {
		if ot.calls[a.ID] != 1 || a.Progress[ovm.ProgressTrustChecked] != ovm.TrustVersion {
			t.Fatalf("account %s checked %d times, marked %q", a.ID, ot.calls[a.ID], a.Progress[ovm.ProgressTrustChecked])
		}
		ev, _, _ := w.store.EventList(ctx, &ovm.EventListParams{AccountID: a.ID, Newest: true, PageParams: ovm.PageParams{Limit: 1}})
		if len(ev) != 1 || ev[0].Actor != ovm.ActorDrift || ev[0].Reason == "" {
			t.Fatalf("no event of the repair on %s: %+v", a.ID, ev)
		}
	}
}
