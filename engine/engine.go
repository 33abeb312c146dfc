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
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// Pool is one pool's policy and provider.
type Pool struct {
	Policy   ovm.Pool
	Provider ovm.Provider
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
	spender  *Spender

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

	// templates are the lease templates by name, the pools' implicit ones
	// included; defaultTemplate the one a vend without either uses.
	templates       map[string]*ovm.Template
	defaultTemplate string

	// issues serialises the issues of access per lease: its rate's count
	// and the event that counts it are one step (issueRate).
	issues keyLocks
	// caps caches what a spend cap's subject spent (capCache).
	caps capCache

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
	if err := e.buildTemplates(); err != nil {
		return nil, err
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
	e.spender = &Spender{e: e, cfg: cfg.Spend}
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
