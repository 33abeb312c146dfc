// Package engine is OVM's reconciler. Five workers share one store:
//
//   - the stock planner orders new accounts so each pool holds its target
//     stock, within its ceiling, its creations-in-flight limit, its minimum
//     spacing and the close quota;
//   - the operation runner claims due accounts and drives each one step
//     with the pool's provider, retrying with backoff and quarantining
//     after the policy's attempts;
//   - the lease expirer ends leases whose time is up;
//   - the drift check compares AWS with the store, at start and
//     periodically, for pools whose provider can list its accounts.
//   - the notifier sends the outbox's notifications to their
//     subscriptions, at least once, retrying with backoff (notify.go).
//
// Every worker gathers from the store, decides with a pure function, then
// acts through compare-and-set updates. The engine is level-triggered: it
// keeps no timers in memory, so a process that was down catches up on start.
// Each worker's RunOnce is what the loops call on every tick; tests call it
// directly with a fake clock.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// Pool is one pool's policy and provider.
type Pool struct {
	Policy   ovm.Pool
	Provider ovm.Provider
}

// Config tunes the engine. Zero fields take the documented defaults.
type Config struct {
	// Instance names this process in claims (default host-pid).
	Instance string
	// Tick is the interval of each worker's loop (default 1s).
	Tick time.Duration
	// BatchSize is how many due accounts or expired leases one RunOnce
	// takes (default 64).
	BatchSize int
	// Parallelism is how many provider steps run at once (default 8).
	Parallelism int
	// ClaimTTL is how long a claim on an account's step lasts without
	// renewal (default 30s). The worker renews it every third of it while
	// the step runs, so a step may last longer; a replica that dies stops
	// renewing, and another takes the step over within ClaimTTL.
	ClaimTTL time.Duration
	// StepTimeout bounds one provider call (default 1m; a recycling pool's
	// clean_timeout and 30s when longer).
	StepTimeout time.Duration
	// MinPoll and MaxPoll clamp the wait a provider asks for between polls
	// (defaults 200ms and 5m).
	MinPoll, MaxPoll time.Duration
	// LeaderTTL is how long the planner's leader lease lasts without
	// renewal (default 15s): when its holder dies, another replica plans
	// after at most this long.
	LeaderTTL time.Duration
	// DriftInterval is how often AWS is compared with the store for pools
	// whose provider lists its accounts (default 10m; also once at start).
	DriftInterval time.Duration
	// CrashPoint, when set, is called at named points between an effect
	// and its record (tests use it to kill the process there).
	CrashPoint func(point string)
	// Observer, when set, is told what the engine does (metrics).
	Observer Observer
	// Notify configures the notifications' delivery worker.
	Notify NotifyConfig
	// Vend configures vends (Engine.Vend).
	Vend VendConfig
	// Access bounds the issues of access per lease.
	Access AccessConfig
	// Retention is how long records are kept.
	Retention RetentionConfig
}

// AccessConfig bounds how often one lease issues access (credentials and
// console sign-ins together): at most Issues in any Window (defaults 10 in
// 1m); beyond, ELimitExceeded with the time until one is free.
type AccessConfig struct {
	Issues int
	Window time.Duration
}

func (c AccessConfig) withDefaults() AccessConfig {
	if c.Issues == 0 {
		c.Issues = 10
	}
	if c.Window == 0 {
		c.Window = time.Minute
	}
	return c
}

// Observer is told what the engine does, for metrics. Its methods are
// called on the engine's goroutines: they must be quick and never block.
type Observer interface {
	// Step reports one provider step of an account of pool: the step
	// (create, bootstrap, clean, close), its outcome (pending, done,
	// failed, or error for a transient failure) and the call's duration.
	Step(pool, step, outcome string, d time.Duration)
	// Ready reports an account of pool that reached stock: made, d after
	// it was ordered, or cleaned (recycled), d after its cleaning began.
	Ready(pool string, recycled bool, d time.Duration)
	// Leader reports whether this process holds the named leader lease
	// after an attempt to take or renew it.
	Leader(name string, held bool)
}

// nopObserver listens to nothing.
type nopObserver struct{}

func (nopObserver) Step(string, string, string, time.Duration) {}
func (nopObserver) Ready(string, bool, time.Duration)          {}
func (nopObserver) Leader(string, bool)                        {}

// WithDefaults returns c with every zero field set to its documented
// default (the engine's own; the configuration file leaves them to it).
func (c Config) WithDefaults() Config {
	if c.Instance == "" {
		host, _ := os.Hostname()
		c.Instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if c.Tick == 0 {
		c.Tick = time.Second
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.Parallelism == 0 {
		c.Parallelism = 8
	}
	if c.ClaimTTL == 0 {
		c.ClaimTTL = 30 * time.Second
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = time.Minute
	}
	if c.LeaderTTL == 0 {
		c.LeaderTTL = 15 * time.Second
	}
	if c.DriftInterval == 0 {
		c.DriftInterval = 10 * time.Minute
	}
	if c.MinPoll == 0 {
		c.MinPoll = 200 * time.Millisecond
	}
	if c.MaxPoll == 0 {
		c.MaxPoll = 5 * time.Minute
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	c.Vend = c.Vend.withDefaults()
	c.Access = c.Access.withDefaults()
	c.Retention = c.Retention.withDefaults()
	c.Notify = c.Notify.withDefaults(c)
	return c
}

// Validate checks c (after WithDefaults) and returns an *ovm.FieldError
// naming the first wrong field as the configuration file's engine block
// names it (tick, leader_ttl, ...).
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &ovm.FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.Tick < 10*time.Millisecond:
		return bad("tick", "must be at least 10ms")
	case c.BatchSize < 1:
		return bad("batch_size", "must be at least 1")
	case c.Parallelism < 1:
		return bad("parallelism", "must be at least 1")
	case c.DriftInterval < time.Second:
		return bad("drift_interval", "must be at least 1s")
	case c.LeaderTTL < 3*c.Tick:
		return bad("leader_ttl", "must be at least 3 ticks (%s)", 3*c.Tick)
	case c.ClaimTTL < 3*time.Second:
		return bad("claim_ttl", "must be at least 3s (a claim is renewed every third of it)")
	case c.StepTimeout < time.Second:
		return bad("step_timeout", "must be at least 1s")
	}
	return nil
}

// Engine runs the workers.
type Engine struct {
	store ovm.Store
	pools map[string]*Pool
	clock ovm.Clock
	log   *slog.Logger
	cfg   Config

	planner  *Planner
	runner   *Runner
	expirer  *Expirer
	drift    *Drift
	notifier *Notifier
	retainer *Retainer

	sigMu   sync.Mutex
	signals map[string]chan struct{}

	drainOnce sync.Once
	draining  chan struct{}
	outlookMu sync.Mutex
	outlooks  map[string]*outlookEntry

	observed observed
	targets  targets

	// held is, per leader lease this engine holds, until when (lead).
	heldMu sync.Mutex
	held   map[string]time.Time

	loopsMu sync.Mutex
	cancel  context.CancelFunc
	loops   sync.WaitGroup
}

// New returns an engine over store for pools. It checks that each pool's
// policy is valid and that recycle pools have a provider that can clean.
func New(store ovm.Store, pools []Pool, clock ovm.Clock, log *slog.Logger, cfg Config) (*Engine, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e := &Engine{store: store, pools: map[string]*Pool{}, clock: clock, log: log, cfg: cfg, signals: map[string]chan struct{}{},
		draining: make(chan struct{}), outlooks: map[string]*outlookEntry{}}
	for i := range pools {
		p := &pools[i]
		if err := p.Policy.Validate(); err != nil {
			return nil, fmt.Errorf("engine: pool %q: %w", p.Policy.Name, err)
		}
		if _, dup := e.pools[p.Policy.Name]; dup {
			return nil, fmt.Errorf("engine: pool %q is defined twice", p.Policy.Name)
		}
		if _, ok := p.Provider.(ovm.Cleaner); p.Policy.Retire.Mode == ovm.RetireRecycle && !ok {
			return nil, fmt.Errorf("engine: pool %q recycles accounts but provider %s cannot clean", p.Policy.Name, p.Policy.Provider)
		}
		e.pools[p.Policy.Name] = p
	}
	// The step timeout must leave room for a whole cleaning pass.
	for _, p := range e.pools {
		if p.Policy.Retire.Mode == ovm.RetireRecycle && p.Policy.Retire.CleanTimeout+30*time.Second > e.cfg.StepTimeout {
			e.cfg.StepTimeout = p.Policy.Retire.CleanTimeout + 30*time.Second
		}
	}
	e.planner = &Planner{e: e, kick: make(chan struct{}, 1)}
	e.runner = &Runner{e: e, kick: make(chan struct{}, 1)}
	e.expirer = &Expirer{e: e}
	e.drift = &Drift{e: e}
	e.notifier = newNotifier(e, cfg.Notify)
	e.retainer = &Retainer{e: e}
	return e, nil
}

// Fenced reports why the store refuses this replica's writes (a newer OVM
// writes it), or nil.
func (e *Engine) Fenced() error {
	if f, ok := e.store.(ovm.Fencer); ok {
		return f.Fenced()
	}
	return nil
}

// Config returns the engine's configuration, its defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Pool returns the named pool, or nil.
func (e *Engine) Pool(name string) *Pool { return e.pools[name] }

// Pools returns the engine's pools.
func (e *Engine) Pools() []*Pool {
	out := make([]*Pool, 0, len(e.pools))
	for _, p := range e.pools {
		out = append(out, p)
	}
	return out
}

// ReadySignal returns a channel closed the next time an account of pool
// becomes ready in this process (long-polling vends wait on it).
func (e *Engine) ReadySignal(pool string) <-chan struct{} {
	e.sigMu.Lock()
	defer e.sigMu.Unlock()
	ch, ok := e.signals[pool]
	if !ok {
		ch = make(chan struct{})
		e.signals[pool] = ch
	}
	return ch
}

func (e *Engine) notifyReady(pool string) {
	e.sigMu.Lock()
	defer e.sigMu.Unlock()
	if ch, ok := e.signals[pool]; ok {
		close(ch)
		delete(e.signals, pool)
	}
}

// lead takes or renews the leader lease name for ttl and reports whether
// this engine holds it. A lease held for more than half its ttl yet is not
// written again: a kicked loop (a planner run per vend) costs no write, and
// no other replica can take the lease before it expires.
func (e *Engine) lead(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	now := e.clock.Now()
	e.heldMu.Lock()
	until, held := e.held[name]
	e.heldMu.Unlock()
	if held && now.Before(until.Add(-ttl/2)) {
		e.cfg.Observer.Leader(name, true)
		return true, nil
	}
	ok, err := e.store.LeaderAcquire(ctx, name, e.cfg.Instance, now, now.Add(ttl))
	e.heldMu.Lock()
	if e.held == nil {
		e.held = map[string]time.Time{}
	}
	if ok && err == nil {
		e.held[name] = now.Add(ttl)
	} else {
		delete(e.held, name)
	}
	e.heldMu.Unlock()
	e.cfg.Observer.Leader(name, ok && err == nil)
	if err != nil {
		return false, fmt.Errorf("leader lease %s: %w", name, err)
	}
	if !ok {
		e.log.Debug("not the leader", ovm.LogWorker, name)
	}
	return ok, nil
}

func (e *Engine) crash(point string) {
	if e.cfg.CrashPoint != nil {
		e.cfg.CrashPoint(point)
	}
}

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
