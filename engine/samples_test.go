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

// The leader records one sample of each pool per interval: the ready
// stock and target at its first plan of the interval; a replica that does
// not lead records none.
func TestTheLeaderSamplesEachPoolOncePerInterval(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pools := []engine.Pool{{Policy: w.pool, Provider: w.sim}}
	a, _ := engine.New(w.store, pools, w.clock, log, engine.Config{Instance: "a", LeaderTTL: time.Hour})
	b, _ := engine.New(w.store, pools, w.clock, log, engine.Config{Instance: "b", LeaderTTL: time.Hour})
	ctx := context.Background()
	start := ovm.SampleBucket(w.clock.Now())
	for range 3 * int(ovm.SampleInterval/time.Minute) { // three intervals, a plan a minute
		a.Tick(ctx)
		b.RunOnce(ctx, engine.WorkerPlanner)
		w.clock.Advance(time.Minute)
	}
	got, err := w.store.PoolSampleList(ctx, w.pool.Name, time.Time{})
	if err != nil || len(got) != 3 {
		t.Fatalf("samples: %v %v, want 3", got, err)
	}
	for i, s := range got {
		if !s.At.Equal(start.Add(time.Duration(i)*ovm.SampleInterval)) || s.Target != 2 {
			t.Errorf("sample %d: %+v", i, s)
		}
	}
	if got[0].Ready != 0 || got[2].Ready != 2 {
		t.Errorf("ready stock sampled %d then %d, want 0 at the start and 2 once filled", got[0].Ready, got[2].Ready)
	}
}

// The history has a point per interval of the last day, with the samples
// where there are some, and the vends of each interval.
func TestTheHistoryHasADayOfPointsWithSamplesAndVends(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, _ := engine.New(w.store, []engine.Pool{{Policy: w.pool, Provider: w.sim}}, w.clock, log, engine.Config{})
	ctx := context.Background()
	for range 20 {
		eng.Tick(ctx)
		w.clock.Advance(time.Minute)
	}
	w.vend("alice")
	w.vend("bob")
	if err := eng.RecordMiss(ctx, w.pool.Name, "key:carol"); err != nil {
		t.Fatal(err)
	}
	h, err := eng.History(ctx, w.pool.Name)
	if err != nil || len(h) != ovm.SampleSlots {
		t.Fatalf("history: %d points, %v", len(h), err)
	}
	last := h[len(h)-1]
	if !last.At.Equal(ovm.SampleBucket(w.clock.Now())) || last.Vends != 3 {
		t.Fatalf("the last point: %+v, want the current interval with 2 leases and 1 miss", last)
	}
	sampled := 0
	for _, p := range h {
		if p.Sampled {
			sampled++
		}
	}
	if sampled < 2 || sampled > 3 || h[0].Sampled {
		t.Fatalf("%d sampled points (first %+v), want the 2 or 3 intervals OVM ran", sampled, h[0])
	}
	if _, err := eng.History(ctx, "nope"); ovm.ErrorCodeOf(err) != ovm.ENotFound {
		t.Fatalf("an unknown pool: %v", err)
	}
}
