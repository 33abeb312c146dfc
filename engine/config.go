package engine

import (
	"fmt"
	"os"
	"time"

	"github.com/ovmdev/ovm"
)

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
	// Templates are the configured lease templates; every pool also has
	// its implicit one (ovm.ImplicitTemplate). DefaultTemplate is the one a
	// vend naming neither a template nor a pool uses ("": the implicit
	// template of the only pool, or of "default").
	Templates       []ovm.Template
	DefaultTemplate string
	// Spend configures the spend worker.
	Spend SpendConfig
	// BudgetObserver is told of budget acts and frozen leases (metrics).
	BudgetObserver BudgetObserver
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
	c.Spend = c.Spend.withDefaults()
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
