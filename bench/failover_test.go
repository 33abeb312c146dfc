package bench

import (
	"context"
	"flag"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

var failoverClaimTTL = flag.Duration("failover-claim-ttl", 0, "engine.claim_ttl of BenchmarkFailover (0: the engine's default)")

// BenchmarkFailover measures how long the step of a replica that died
// holding its claim waits before another replica takes it over: replica a
// claims an account's create and dies there (it never renews nor records:
// a kill -9), replica b runs its loops; the figure is the wall time from a's
// claim to b's create call. It is the claim's TTL and b's tick: 2m before
// claims were renewed (the old default engine.claim_ttl), 30s now.
func BenchmarkFailover(b *testing.B) {
	for range b.N {
		ctx := context.Background()
		st, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "ovm.db"))
		if err != nil {
			b.Fatal(err)
		}
		clock := ovm.SystemClock()
		p, _ := sim.New(sim.Config{}, clock)
		retaken := make(chan time.Time, 1)
		p.SetHook(func(op sim.Op, _ *ovm.Account) error {
			if op == sim.OpCreate {
				select {
				case retaken <- time.Now():
				default:
				}
			}
			return nil
		})
		pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 1}}.WithDefaults()
		dead := make(chan struct{})
		var once sync.Once
		claimed := make(chan time.Time, 1)
		replica := func(name string, crash func(string)) *engine.Engine {
			e, err := engine.New(st, []engine.Pool{{Policy: pol, Provider: p}}, clock, slog.New(slog.DiscardHandler),
				engine.Config{Instance: name, ClaimTTL: *failoverClaimTTL, Tick: 200 * time.Millisecond, CrashPoint: crash})
			if err != nil {
				b.Fatal(err)
			}
			return e
		}
		a := replica("a", func(point string) {
			if point == "runner.after-claim" {
				once.Do(func() { claimed <- time.Now() })
				<-dead // a kill -9: no renewal, no record
			}
		})
		if _, err := a.RunOnce(ctx, engine.WorkerPlanner); err != nil {
			b.Fatal(err)
		}
		go a.RunOnce(ctx, engine.WorkerRunner)
		at := <-claimed
		rb := replica("b", nil)
		rb.Start()
		took := (<-retaken).Sub(at)
		rb.Stop(ctx)
		close(dead)
		st.Close()
		b.ReportMetric(took.Seconds(), "s-to-retake")
		b.Logf("claim ttl %s: the dead replica's step was retaken after %s", rb.Config().ClaimTTL, took.Round(100*time.Millisecond))
	}
}
