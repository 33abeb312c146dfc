package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

// refillWorld is an engine on the simulated AWS and an injected clock,
// driven the way its loops run: a worker that did something runs again at
// once (the kicks), and the clock jumps to the next thing due, or one tick.
type refillWorld struct {
	b     *testing.B
	store *sqlitestore.Store
	eng   *engine.Engine
	clock *clocktest.Clock
	pool  ovm.Pool
	tick  time.Duration
}

func newRefillWorld(b *testing.B, target int, create, bootstrap time.Duration) *refillWorld {
	w := &refillWorld{b: b, clock: clocktest.New(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)), tick: time.Second}
	var err error
	w.store, err = sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "ovm.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.store.Close() })
	p, err := sim.New(sim.Config{CreateLatency: create, BootstrapLatency: bootstrap, MaxInFlight: 5}, w.clock)
	if err != nil {
		b.Fatal(err)
	}
	w.pool = ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: target, Ceiling: 3 * target, MaxInFlight: 5},
		Lease: ovm.LeasePolicy{MaxPerOwner: 3 * target}}.WithDefaults()
	w.eng, err = engine.New(w.store, []engine.Pool{{Policy: w.pool, Provider: p}}, w.clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{Tick: w.tick, BatchSize: 4 * target, Parallelism: 4 * target})
	if err != nil {
		b.Fatal(err)
	}
	return w
}

func (w *refillWorld) ready() int {
	c, err := w.store.PoolCounts(context.Background(), "default")
	if err != nil {
		w.b.Fatal(err)
	}
	return c.ByState[ovm.AccountReady]
}

// fill drives the engine until the stock is full and returns the clock
// time it took.
func (w *refillWorld) fill() time.Duration {
	ctx := context.Background()
	start := w.clock.Now()
	for i := 0; w.ready() < w.pool.Stock.Target; i++ {
		if i > 100000 {
			w.b.Fatal("the stock never filled")
		}
		n1, err1 := w.eng.RunOnce(ctx, engine.WorkerPlanner)
		n2, err2 := w.eng.RunOnce(ctx, engine.WorkerRunner)
		if err1 != nil || err2 != nil {
			w.b.Fatal(err1, err2)
		}
		if n1+n2 > 0 {
			continue // kicked: run again at once
		}
		next := w.clock.Now().Add(w.tick)
		if at := w.eng.NextDue(); !at.IsZero() && at.Before(next) {
			next = at
		}
		w.clock.Set(next)
	}
	return w.clock.Now().Sub(start)
}

// drain leases the whole stock.
func (w *refillWorld) drain() {
	ctx := context.Background()
	for i := range w.pool.Stock.Target {
		now := w.clock.Now()
		if _, err := w.store.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: fmt.Sprintf("lse_%d_%d", now.UnixNano(), i), Pool: "default",
			Owner: "bench", Now: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			w.b.Fatal(err)
		}
	}
}

// awsFloor is the least refill time AWS allows: five creations in progress
// ("as soon as one finishes, you can start another"), bootstraps not
// limited by it.
func awsFloor(target int, create, bootstrap time.Duration) time.Duration {
	waves := (target + 4) / 5
	return time.Duration(waves)*create + bootstrap
}

// BenchmarkRefill drains a full pool and times its refill on the injected
// clock, against AWS's floor (make bench). The target is at most 1.1x.
func BenchmarkRefill(b *testing.B) {
	for _, c := range []struct {
		name              string
		target            int
		create, bootstrap time.Duration
	}{
		{"target20/short", 20, 3 * time.Second, 2 * time.Second},
		{"target100/short", 100, 3 * time.Second, 2 * time.Second},
		{"target20/aws-like", 20, 90 * time.Second, 60 * time.Second},
		{"target100/aws-like", 100, 90 * time.Second, 60 * time.Second},
	} {
		b.Run(c.name, func(b *testing.B) {
			var took time.Duration
			for range b.N {
				w := newRefillWorld(b, c.target, c.create, c.bootstrap)
				w.fill()
				w.drain()
				took = w.fill()
			}
			floor := awsFloor(c.target, c.create, c.bootstrap)
			b.ReportMetric(took.Seconds(), "refill-s")
			b.ReportMetric(floor.Seconds(), "floor-s")
			b.ReportMetric(took.Seconds()/floor.Seconds(), "x-floor")
		})
	}
}

// BenchmarkRefillRealLoops is the refill through the engine's own loops
// (Start), on the wall clock, with latencies a tenth of a second: it shows
// that the loops wake when a step is due and plan when a slot frees, not
// at their 1 s tick.
func BenchmarkRefillRealLoops(b *testing.B) {
	const target = 20
	create, bootstrap := 300*time.Millisecond, 200*time.Millisecond
	var took time.Duration
	for range b.N {
		st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "ovm.db"))
		if err != nil {
			b.Fatal(err)
		}
		p, _ := sim.New(sim.Config{CreateLatency: create, BootstrapLatency: bootstrap, MaxInFlight: 5}, nil)
		pool := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: target, Ceiling: 3 * target, MaxInFlight: 5},
			Lease: ovm.LeasePolicy{MaxPerOwner: 3 * target}}.WithDefaults()
		eng, err := engine.New(st, []engine.Pool{{Policy: pool, Provider: p}}, ovm.SystemClock(),
			slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{Tick: time.Second, MinPoll: time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		w := &refillWorld{b: b, store: st, pool: pool}
		eng.Start()
		waitReady := func() time.Duration {
			start := time.Now()
			for w.ready() < target {
				if time.Since(start) > time.Minute {
					b.Fatal("the stock never filled")
				}
				time.Sleep(5 * time.Millisecond)
			}
			return time.Since(start)
		}
		waitReady()
		for i := range target {
			now := time.Now()
			if _, _, err := eng.Vend(context.Background(), &engine.VendRequest{Pool: "default", Owner: fmt.Sprintf("bench-%d-%d", now.UnixNano(), i)}); err != nil {
				b.Fatal(err)
			}
		}
		took = waitReady()
		eng.Stop(context.Background())
		st.Close()
	}
	floor := awsFloor(target, create, bootstrap)
	b.ReportMetric(took.Seconds(), "refill-s")
	b.ReportMetric(floor.Seconds(), "floor-s")
	b.ReportMetric(took.Seconds()/floor.Seconds(), "x-floor")
}
