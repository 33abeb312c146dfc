package engine_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
)

// A clean stop hands the planner's leader lease back: another engine on
// the same store plans at once, not after LeaderTTL.
func TestAfterStopAnotherEngineLeadsAtOnce(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pools := []engine.Pool{{Policy: w.pool, Provider: w.sim}}
	a, err := engine.New(w.store, pools, w.clock, log, engine.Config{Instance: "a", Tick: 10 * time.Millisecond, LeaderTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	for deadline := time.Now().Add(10 * time.Second); len(w.accounts()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a never planned")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The clock has not moved: a's lease would hold for another hour.
	now := w.clock.Now()
	if ok, err := w.store.LeaderAcquire(ctx, "planner", "b", now, now.Add(15*time.Second)); err != nil || !ok {
		t.Fatalf("b after a stopped: held %v (%v), want the planner lease at once", ok, err)
	}
	if ok, _ := w.store.LeaderAcquire(ctx, "planner", "a", now, now.Add(15*time.Second)); ok {
		t.Fatal("a still holds the lease b took")
	}
}
