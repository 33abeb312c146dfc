package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/internal/demandtrace"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

// driverTick is the replay's fallback tick: a lease ends at most this late.
const driverTick = 2 * time.Minute

// replay is the outcome of a demand trace replayed on the simulated AWS.
type replay struct {
	vends, served int
	// idle is the ready stock integrated over the measured weeks.
	idleHours float64
}

func (r replay) hit() float64 { return float64(r.served) / float64(max(r.vends, 1)) }

// replayTrace runs trace on a pool with stock policy sp, with AWS-like
// latencies (90 s to create, 60 s to bootstrap) on the injected clock, and
// measures from measureFrom on. The driver runs the engine's workers as
// their loops do: at once after work, at the next due step, else every
// driverTick.
func replayTrace(b *testing.B, trace []demandtrace.Vend, sp ovm.StockPolicy, measureFrom time.Time) replay {
	start := trace[0].At.Truncate(24 * time.Hour)
	clock := clocktest.New(start)
	st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "ovm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p, _ := sim.New(sim.Config{CreateLatency: 90 * time.Second, BootstrapLatency: 60 * time.Second, CloseLatency: time.Minute, MaxInFlight: 5}, clock)
	sp.Ceiling, sp.MaxInFlight = 200, 5
	pool := ovm.Pool{Name: "default", Provider: "sim", Stock: sp, Lease: ovm.LeasePolicy{MaxPerOwner: 200, DefaultTTL: time.Hour, MaxTTL: 4 * time.Hour}}.WithDefaults()
	eng, err := engine.New(st, []engine.Pool{{Policy: pool, Provider: p}}, clock, slog.New(slog.NewTextHandler(io.Discard, nil)),
		engine.Config{Tick: 30 * time.Second, BatchSize: 500, Parallelism: 50, LeaderTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var r replay
	ready := func() int {
		c, err := st.PoolCounts(ctx, "default")
		if err != nil {
			b.Fatal(err)
		}
		return c.ByState[ovm.AccountReady]
	}
	// advance runs the workers up to t, integrating the idle stock.
	advance := func(t time.Time) {
		for {
			n0, e0 := eng.RunOnce(ctx, engine.WorkerExpirer)
			n1, e1 := eng.RunOnce(ctx, engine.WorkerPlanner)
			n2, e2 := eng.RunOnce(ctx, engine.WorkerRunner)
			if err := errors.Join(e0, e1, e2); err != nil {
				b.Fatal(err)
			}
			if n0+n1+n2 > 0 {
				continue
			}
			now := clock.Now()
			if !now.Before(t) {
				return
			}
			next := now.Add(driverTick)
			if t.Before(next) {
				next = t
			}
			if at := eng.NextDue(); !at.IsZero() && at.After(now) && at.Before(next) {
				next = at
			}
			if !now.Before(measureFrom) {
				r.idleHours += float64(ready()) * next.Sub(now).Hours()
			}
			clock.Set(next)
		}
	}
	for i, v := range trace {
		advance(v.At)
		_, err := st.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: fmt.Sprintf("lse_%08d", i), Pool: "default", Owner: "trace",
			Now: v.At, ExpiresAt: v.At.Add(v.TTL)})
		if !v.At.Before(measureFrom) {
			r.vends++
			if err == nil {
				r.served++
			} else if *demandMisses {
				st, _ := eng.PoolStatus(ctx, "default")
				b.Logf("miss: %s %s (ready %d, in flight %d, target %d: %s)", v.At.Format("Mon 15:04:05"), v.Kind, ready(),
					st.Counts.InFlight(), st.Policy.Stock.Target, st.TargetWhy)
			}
		}
		if errors.Is(err, ovm.ErrEmpty) {
			err = eng.RecordMiss(ctx, "default", "trace") // as the API does
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	advance(trace[len(trace)-1].At.Add(time.Hour))
	return r
}

var (
	demandHit    = flag.Float64("demand-hit", 0.99, "the auto target's hit_ratio in BenchmarkDemand")
	demandFixed  = flag.Bool("demand-fixed", true, "BenchmarkDemand also searches the least fixed target")
	demandMisses = flag.Bool("demand-misses", false, "BenchmarkDemand logs each vend the stock missed")
)

// BenchmarkDemand replays three weeks of the demand trace (the model's
// history) and a fourth, measured, with stock.target: auto, then the
// measured week with fixed targets, and reports the auto target's hit
// ratio and idle account-hours against the least fixed target that
// reaches the same hit ratio (make bench).
func BenchmarkDemand(b *testing.B) {
	monday := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	trace := demandtrace.Default.Generate(monday, 4, 7)
	last := monday.Add(3 * ovm.Week)
	var lastWeek []demandtrace.Vend
	for _, v := range trace {
		if !v.At.Before(last) {
			lastWeek = append(lastWeek, v)
		}
	}
	for range b.N {
		auto := replayTrace(b, trace, ovm.StockPolicy{Target: 1, Auto: &ovm.AutoTarget{Min: 1, Max: 60, HitRatio: *demandHit}}, last)
		b.Logf("auto: %d of %d vends served from stock (%.1f%%), %.0f idle account-hours", auto.served, auto.vends, 100*auto.hit(), auto.idleHours)
		if !*demandFixed {
			continue
		}
		// The least fixed target that serves as many: the hit ratio grows
		// with the target, so a bisection finds it.
		lo, hi := 1, 60
		var fixed replay
		for lo < hi {
			mid := (lo + hi) / 2
			r := replayTrace(b, lastWeek, ovm.StockPolicy{Target: mid}, last)
			b.Logf("fixed %d: %.1f%%, %.0f idle account-hours", mid, 100*r.hit(), r.idleHours)
			if r.hit() >= auto.hit() {
				hi, fixed = mid, r
			} else {
				lo = mid + 1
			}
		}
		if fixed.vends == 0 {
			fixed = replayTrace(b, lastWeek, ovm.StockPolicy{Target: lo}, last)
		}
		best := lo
		b.ReportMetric(100*auto.hit(), "auto-hit-%")
		b.ReportMetric(auto.idleHours, "auto-idle-h")
		b.ReportMetric(float64(best), "fixed-target")
		b.ReportMetric(100*fixed.hit(), "fixed-hit-%")
		b.ReportMetric(fixed.idleHours, "fixed-idle-h")
	}
}
