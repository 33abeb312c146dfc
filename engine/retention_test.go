package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
)

// The leader's retainer deletes what the retention no longer keeps: a
// lease ended more than its retention ago, misses older than the demand
// model reads, and nothing younger.
func TestTheRetainerPrunesWhatTheRetentionNoLongerKeeps(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	w.cfg.Retention = engine.RetentionConfig{Events: 48 * time.Hour, Leases: 48 * time.Hour, Accounts: 2160 * time.Hour}
	w.build()
	ctx := context.Background()
	w.settle(5, time.Second)
	old := w.vend("a")
	if _, err := w.eng.EndLease(ctx, old, ovm.LeaseReleased, "key:a"); err != nil {
		t.Fatal(err)
	}
	if err := w.eng.RecordMiss(ctx, "default", "a"); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(30 * 24 * time.Hour) // past the leases' retention and the misses' lookback
	w.settle(5, time.Second)
	young := w.vend("b")
	if err := w.eng.RecordMiss(ctx, "default", "b"); err != nil {
		t.Fatal(err)
	}
	n, err := w.eng.RunOnce(ctx, engine.WorkerRetainer)
	if err != nil || n < 2 {
		t.Fatalf("retainer: %d pruned, %v", n, err)
	}
	if _, err := w.store.LeaseGet(ctx, old.ID); ovm.ErrorCodeOf(err) != ovm.ENotFound {
		t.Fatalf("the old lease: %v, want not found", err)
	}
	if l, err := w.store.LeaseGet(ctx, young.ID); err != nil || l.State != ovm.LeaseActive {
		t.Fatalf("the young lease: %+v %v", l, err)
	}
	ms, _ := w.store.MissList(ctx, "default", time.Time{})
	if len(ms) != 1 || ms[0].Owner != "b" {
		t.Fatalf("misses after the retention: %+v", ms)
	}
	if n, err := w.eng.RunOnce(ctx, engine.WorkerRetainer); err != nil || n != 0 {
		t.Fatalf("a second run pruned %d, %v", n, err)
	}
}
