package engine_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

// A step that outlasts its claim's TTL keeps its claim: the worker renews
// it while the step runs, and no other replica takes the step over (two
// replicas acting on one account at once would, for example, start two
// creations). Real clock, two engines on one store, a claim TTL of 3s and
// a create call of 4s.
func TestAStepLongerThanItsClaimKeepsItsClaim(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clock := ovm.SystemClock()
	p, _ := sim.New(sim.Config{}, clock)
	var inCreate, overlaps, creates atomic.Int32
	p.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op != sim.OpCreate {
			return nil
		}
		creates.Add(1)
		if inCreate.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer inCreate.Add(-1)
		if creates.Load() == 1 {
			time.Sleep(4 * time.Second) // the first create outlasts the claim
		}
		return nil
	})
	pol := poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 1 })
	replica := func(name string) *engine.Engine {
		e, err := engine.New(st, []engine.Pool{{Policy: pol, Provider: p}}, clock, slog.New(slog.DiscardHandler),
			engine.Config{Instance: name, ClaimTTL: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := replica("a"), replica("b")
	if n, err := a.RunOnce(ctx, engine.WorkerPlanner); n != 1 || err != nil {
		t.Fatalf("planner: %d %v", n, err)
	}
	done := make(chan error, 1)
	go func() { _, err := a.RunOnce(ctx, engine.WorkerRunner); done <- err }()
	// Replica b looks for due work every 200ms while a's step runs; after
	// it, b may take the account's next step (no overlap then).
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("replica a's step: %v", err)
			}
			finished = true
		case <-time.After(200 * time.Millisecond):
			if _, err := b.RunOnce(ctx, engine.WorkerRunner); err != nil {
				t.Fatal(err)
			}
		}
	}
	if overlaps.Load() != 0 {
		t.Fatalf("replica b started the account's create while replica a's was running (%d creates)", creates.Load())
	}
	accts, _, _ := st.AccountList(ctx, &ovm.AccountListParams{})
	if len(accts) != 1 || accts[0].State != ovm.AccountCreating || accts[0].ClaimedBy != "" {
		t.Fatalf("after the long step: %d accounts (%s, claimed by %q)", len(accts), accts[0].State, accts[0].ClaimedBy)
	}
}
