package engine

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

// The runner remembers every due time it recorded, not only the earliest:
// a run that takes the earliest must still wake for the next.
func TestTheRunnerWakesForEachDueTimeItRecorded(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := &Runner{}
	if !r.NextDue().IsZero() {
		t.Fatal("nothing recorded, nothing due")
	}
	for _, s := range []int{5, 3, 9, 3} {
		r.due(t0.Add(time.Duration(s) * time.Second))
	}
	for _, c := range []struct{ now, want int }{{0, 3}, {3, 5}, {4, 5}, {5, 9}} {
		r.passed(t0.Add(time.Duration(c.now) * time.Second))
		if got := r.NextDue(); !got.Equal(t0.Add(time.Duration(c.want) * time.Second)) {
			t.Fatalf("at %ds next due %s, want %ds", c.now, got.Sub(t0), c.want)
		}
	}
	r.passed(t0.Add(time.Minute))
	if !r.NextDue().IsZero() {
		t.Fatal("every due time passed")
	}
}

// A step that finishes a creation frees a slot: the planner is kicked, and
// the runner knows when the next step of the account is due.
func TestAFinishedCreationKicksThePlannerAndTheNextStepIsKnown(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, _ := sim.New(sim.Config{CreateLatency: 3 * time.Second, BootstrapLatency: 2 * time.Second}, clock)
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 1, Ceiling: 2, MaxInFlight: 1}}.WithDefaults()
	e, err := New(st, []Pool{{Policy: pol, Provider: p}}, clock, slog.New(slog.NewTextHandler(io.Discard, nil)), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kicked := func() bool {
		select {
		case <-e.planner.kick:
			return true
		default:
			return false
		}
	}
	if n, err := e.planner.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("ordered %d, %v", n, err)
	}
	e.runner.RunOnce(ctx) // pending -> creating, due when AWS is done
	if want := clock.Now().Add(3 * time.Second); !e.runner.NextDue().Equal(want) || kicked() {
		t.Fatalf("next due %s, want %s; a creation under way frees no slot", e.runner.NextDue(), want)
	}
	clock.Advance(3 * time.Second)
	e.runner.RunOnce(ctx) // creating -> bootstrapping
	if !kicked() {
		t.Fatal("a finished creation did not kick the planner")
	}
	if want := clock.Now(); !e.runner.NextDue().Equal(want) {
		t.Fatalf("next due %s, want the bootstrap at once (%s)", e.runner.NextDue(), want)
	}
	e.runner.RunOnce(ctx) // the bootstrap starts
	if want := clock.Now().Add(2 * time.Second); !e.runner.NextDue().Equal(want) {
		t.Fatalf("next due %s, want the bootstrap's end %s", e.runner.NextDue(), want)
	}
}

// With a tick of an hour, only the kicks and the wake-ups move the stock:
// it fills all the same (the tick stays the fallback for other replicas'
// work, nothing waits for it).
func TestTheLoopsDoNotWaitForTheirTick(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p, _ := sim.New(sim.Config{CreateLatency: 50 * time.Millisecond, BootstrapLatency: 30 * time.Millisecond, MaxInFlight: 2}, nil)
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 4, Ceiling: 8, MaxInFlight: 2}}.WithDefaults()
	e, err := New(st, []Pool{{Policy: pol, Provider: p}}, ovm.SystemClock(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		Config{Tick: time.Hour, LeaderTTL: 3 * time.Hour, MinPoll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	defer e.Stop(context.Background())
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := st.PoolCounts(context.Background(), "default")
		if err != nil {
			t.Fatal(err)
		}
		if c.ByState[ovm.AccountReady] == 4 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stock is %v after 20s: a loop waited for its hour-long tick", c.ByState)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
