package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// Worker names one of the engine's loops.
type Worker string

// The engine's workers.
const (
	WorkerPlanner  Worker = "planner"  // orders accounts for each pool's target stock
	WorkerRunner   Worker = "runner"   // drives due accounts one step
	WorkerExpirer  Worker = "expirer"  // ends leases whose time is up
	WorkerDrift    Worker = "drift"    // compares AWS with the store
	WorkerNotifier Worker = "notifier" // sends the outbox's notifications
	WorkerRetainer Worker = "retainer" // deletes what the retention no longer keeps
	WorkerSpender  Worker = "spender"  // takes in spend events, sweeps, reconciles
)

// RunOnce runs worker w once, as its loop does every tick, and returns how
// much work it did. Tests and benchmarks call it with a fake clock instead
// of Start.
func (e *Engine) RunOnce(ctx context.Context, w Worker) (int, error) {
	switch w {
	case WorkerPlanner:
		return e.planner.RunOnce(ctx)
	case WorkerRunner:
		return e.runner.RunOnce(ctx)
	case WorkerExpirer:
		return e.expirer.RunOnce(ctx)
	case WorkerDrift:
		return e.drift.RunOnce(ctx)
	case WorkerNotifier:
		return e.notifier.RunOnce(ctx)
	case WorkerRetainer:
		return e.retainer.RunOnce(ctx)
	case WorkerSpender:
		return e.spender.RunOnce(ctx)
	}
	return 0, fmt.Errorf("engine: no worker %q", w)
}

// NextDue is when the runner's next known step is due (zero: none known).
func (e *Engine) NextDue() time.Time { return e.runner.NextDue() }

// Tick runs each worker once: expire, plan, then run due steps.
func (e *Engine) Tick(ctx context.Context) error {
	_, err1 := e.expirer.RunOnce(ctx)
	_, err2 := e.planner.RunOnce(ctx)
	_, err3 := e.runner.RunOnce(ctx)
	return errors.Join(err1, err2, err3)
}

// Start runs the three worker loops until Stop.
func (e *Engine) Start() {
	e.loopsMu.Lock()
	defer e.loopsMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	// loop runs fn every tick, at once when kicked, and, with wake, as soon
	// as the work it knows of is due (no idle tick between the steps of an
	// account); the tick stays the fallback, for work other replicas left.
	loop := func(name string, every time.Duration, kick <-chan struct{}, fn func(context.Context) (int, error), wake func() time.Time) {
		e.loops.Add(1)
		go func() {
			defer e.loops.Done()
			warned := false
			for {
				if err := e.Fenced(); err != nil {
					// A newer OVM writes the store: nothing to do but wait to
					// be replaced (docs/upgrades.md).
					if !warned {
						e.log.Warn("the store refuses this replica's writes; its workers pause", ovm.LogWorker, name, ovm.LogError, err)
						warned = true
					}
					select {
					case <-ctx.Done():
						return
					case <-time.After(every):
					}
					continue
				}
				n, err := fn(ctx)
				if err != nil && ctx.Err() == nil {
					e.log.Error("worker tick failed", ovm.LogWorker, name, ovm.LogError, err)
				}
				if name != "drift" && name != "retainer" && n >= e.cfg.BatchSize && ctx.Err() == nil {
					continue // more work is waiting
				}
				d := every
				if wake != nil {
					if at := wake(); !at.IsZero() {
						d = min(d, max(at.Sub(e.clock.Now()), 0))
					}
				}
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				case <-kick:
					t.Stop()
				}
			}
		}()
	}
	loop("expirer", e.cfg.Tick, nil, e.expirer.RunOnce, nil)
	loop("planner", e.cfg.Tick, e.planner.kick, e.planner.RunOnce, nil)
	loop("runner", e.cfg.Tick, e.runner.kick, e.runner.RunOnce, e.runner.NextDue)
	loop("drift", e.cfg.DriftInterval, nil, e.drift.RunOnce, nil)
	loop("notifier", e.notifier.cfg.Interval, e.notifier.kick, e.notifier.RunOnce, nil)
	loop("retainer", e.cfg.Retention.Interval, nil, e.retainer.RunOnce, nil)
	loop("spender", e.cfg.Spend.Interval, nil, e.spender.RunOnce, nil)
}

// Stop stops the loops from taking new work and waits until the steps in
// flight are finished and recorded, or ctx ends. Once the loops have
// stopped, it gives back the leader leases this engine holds, so another
// replica (or the next process) plans at once instead of after LeaderTTL.
func (e *Engine) Stop(ctx context.Context) error {
	e.loopsMu.Lock()
	cancel := e.cancel
	e.loopsMu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	done := make(chan struct{})
	go func() { e.loops.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("engine: steps still in flight at shutdown: %w", ctx.Err())
	}
	// A lease that is not given back lapses after its TTL: log, not fail.
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	e.heldMu.Lock()
	e.held = nil
	e.heldMu.Unlock()
	for _, name := range []string{"planner", "drift", "notify", "retention"} {
		if err := e.store.LeaderRelease(rctx, name, e.cfg.Instance); err != nil {
			e.log.Warn("leader lease not released; another replica takes it when it expires", ovm.LogWorker, name, ovm.LogError, err)
		}
		e.cfg.Observer.Leader(name, false)
	}
	return nil
}
