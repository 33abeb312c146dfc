package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// Planner keeps each pool's stock at its target.
type Planner struct {
	e    *Engine
	kick chan struct{}
	// sampled is the last sample interval recorded per pool (the loop's
	// goroutine only).
	sampled map[string]time.Time
}

// Kick asks the planner loop to plan now instead of at its next tick: a
// creation slot was freed, or the stock went down (a vend).
func (p *Planner) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Plan is the planner's decision for one pool.
type Plan struct {
	// Create is how many accounts to order now.
	Create int
	// Why explains a decision to create fewer than the stock lacks.
	Why string
	// Limit names the bound behind Why ("" when nothing held back).
	Limit Limit
	// NextAt is the earliest time spacing allows the next creation.
	NextAt time.Time
}

// Limit is a bound the planner respects.
type Limit string

// The planner's bounds.
const (
	LimitMaxInFlight Limit = "max_in_flight"
	LimitCeiling     Limit = "ceiling"
	LimitMinSpacing  Limit = "min_spacing"
	LimitCloseQuota  Limit = "close_quota"
	// LimitBreaker: creations kept failing for good; planning is stopped.
	LimitBreaker Limit = "breaker"
)

// Circuit breaker: this many abandoned creations within BreakerWindow stop
// the pool's planning until the window has passed. A provider that refuses
// every creation (a bad e-mail domain, a closed card) must not make the
// planner order and abandon accounts without end.
const (
	BreakerAbandons = 3
	BreakerWindow   = time.Hour
)

// PlanStock decides how many accounts pool should order now: enough to
// bring ready + in-flight (+ cleaning, when recycling) up to the target,
// within max in flight (creations in progress: pending and creating; a
// paced pool counts its bootstraps too), the ceiling on live accounts, minimum spacing (one
// at a time when spacing is set) and, when accounts are closed on retire,
// the close quota: it never holds more live accounts than closures left.
// It is pure; Plan.Why and Plan.Limit say what held it back.
func PlanStock(pol ovm.Pool, c *ovm.PoolCounts, quota *ovm.Quota, now time.Time) Plan {
	stock := c.ByState[ovm.AccountReady] + c.InFlight()
	if pol.Retire.Mode == ovm.RetireRecycle {
		stock += c.ByState[ovm.AccountCleaning]
	}
	lack := pol.Stock.Target - stock
	if lack <= 0 {
		return Plan{}
	}
	p := Plan{Create: lack}
	limit := func(n int, l Limit, why string) {
		if n < p.Create {
			p.Create, p.Limit, p.Why = max(n, 0), l, why
		}
	}
	// AWS limits creations in progress; bootstraps hold no slot, but a
	// paced pool (a sign-up's later steps) still makes one at a time.
	slots := c.Creating()
	if pol.Stock.MinSpacing > 0 {
		slots = c.InFlight()
	}
	limit(pol.Stock.MaxInFlight-slots, LimitMaxInFlight, fmt.Sprintf("max_in_flight %d reached (creations in progress)", pol.Stock.MaxInFlight))
	limit(pol.Stock.Ceiling-c.Live(), LimitCeiling, fmt.Sprintf("ceiling of %d live accounts reached", pol.Stock.Ceiling))
	if pol.Stock.MinSpacing > 0 && !c.LastCreatedAt.IsZero() {
		p.NextAt = c.LastCreatedAt.Add(pol.Stock.MinSpacing)
		if now.Before(p.NextAt) {
			limit(0, LimitMinSpacing, "min_spacing: next creation at "+p.NextAt.UTC().Format(time.RFC3339))
		}
	}
	if pol.Stock.MinSpacing > 0 {
		limit(1, LimitMinSpacing, "min_spacing allows one creation at a time")
	}
	if quota != nil && quota.Limited() && pol.Retire.Mode == ovm.RetireClose {
		// Every live account will need one closure: never hold more than
		// the quota could close.
		limit(quota.Left()-c.Live(), LimitCloseQuota, fmt.Sprintf("close quota: %d closures left in the window for %d live accounts", quota.Left(), c.Live()))
	}
	return p
}

// RunOnce plans every pool and inserts the pending accounts it decided on,
// when this engine holds the planner's leader lease. It returns how many
// accounts it ordered.
func (p *Planner) RunOnce(ctx context.Context) (int, error) {
	e := p.e
	if ok, err := e.lead(ctx, "planner", e.cfg.LeaderTTL); !ok || err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, pool := range e.pools {
		n, err := p.planPool(ctx, pool)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", pool.Policy.Name, err))
		}
	}
	if total > 0 {
		e.runner.Kick()
	}
	return total, errors.Join(errs...)
}

func (p *Planner) planPool(ctx context.Context, pool *Pool) (int, error) {
	e := p.e
	name := pool.Policy.Name
	counts, err := e.store.PoolCounts(ctx, name)
	if err != nil {
		return 0, err
	}
	now := e.clock.Now()
	pol, _, err := e.withTarget(ctx, pool)
	if err != nil {
		return 0, fmt.Errorf("stock target: %w", err)
	}
	p.sample(ctx, name, counts, pol.Stock.Target, now)
	abandoned, err := e.store.AccountCountSince(ctx, name, ovm.AccountAbandoned, now.Add(-BreakerWindow))
	if err != nil {
		return 0, err
	}
	if abandoned >= BreakerAbandons {
		e.log.Warn("stock planner stopped: creations keep failing for good", ovm.LogPool, name, ovm.LogCount, abandoned)
		return 0, nil
	}
	var quota *ovm.Quota
	if qr, ok := pool.Provider.(ovm.QuotaReporter); ok {
		q, err := qr.CloseQuota(ctx)
		if err != nil {
			return 0, fmt.Errorf("close quota: %w", err)
		}
		quota = &q
	}
	plan := PlanStock(pol, counts, quota, now)
	if plan.Why != "" {
		e.log.Debug("stock planner held back", ovm.LogPool, name, "reason", plan.Why)
	}
	if plan.Create > 0 {
		// A slow tick may have outlived the lease: make sure this engine
		// still plans before ordering anything.
		if ok, err := e.lead(ctx, "planner", e.cfg.LeaderTTL); !ok || err != nil {
			return 0, err
		}
	}
	for i := range plan.Create {
		id := ovm.NewID("acc", now)
		acctName, email := pool.Provider.Reserve(id)
		a := ovm.NewPendingAccount(id, name, acctName, email, now)
		if err := e.store.AccountInsert(ctx, a, ovm.ActorPlanner); err != nil {
			return i, err
		}
		e.log.Info("account ordered", ovm.LogPool, name, ovm.LogAccountID, id)
		e.crash("planner.after-insert")
	}
	return plan.Create, nil
}

// sample records pool's ready stock and target once per sample interval,
// at the leader's first plan of the interval (the console's chart). A
// failed write is logged: the history has a gap, nothing else.
func (p *Planner) sample(ctx context.Context, pool string, counts *ovm.PoolCounts, target int, now time.Time) {
	at := ovm.SampleBucket(now)
	if p.sampled == nil {
		p.sampled = map[string]time.Time{}
	}
	if p.sampled[pool].Equal(at) {
		return
	}
	if err := p.e.store.PoolSamplePut(ctx, &ovm.PoolSample{Pool: pool, At: at, Ready: counts.ByState[ovm.AccountReady], Target: target}); err != nil {
		p.e.log.Warn("cannot record the pool's stock sample", ovm.LogPool, pool, ovm.LogError, err)
		return
	}
	p.sampled[pool] = at
}
