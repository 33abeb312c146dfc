package engine

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// targetEvery is how long an auto pool's target is kept before the lease
// history is read again.
const targetEvery = 5 * time.Minute

// defaultLead is the order-to-ready time assumed for a pool that has no
// ready account to learn it from yet.
const defaultLead = 5 * time.Minute

// targets caches the targets of auto pools.
type targets struct {
	mu sync.Mutex
	m  map[string]targetEntry
}

type targetEntry struct {
	at     time.Time
	target int
	why    string
}

// target is pool's target now, and why: the configured one, or, for a
// pool whose target follows demand, the demand model's estimate from the
// lease history in the store (ovm.AutoTarget), read at most every
// targetEvery. Every replica estimates from the same store.
func (e *Engine) target(ctx context.Context, p *Pool) (int, string, error) {
	a := p.Policy.Stock.Auto
	if a == nil {
		return p.Policy.Stock.Target, "", nil
	}
	name, now := p.Policy.Name, e.clock.Now()
	e.targets.mu.Lock()
	ent, ok := e.targets.m[name]
	e.targets.mu.Unlock()
	if ok && now.Sub(ent.at) < targetEvery {
		return ent.target, ent.why, nil
	}
	vends, err := e.vendHistory(ctx, name, now.Add(-a.Lookback))
	if err != nil {
		return 0, "", err
	}
	lead, err := e.leadTime(ctx, name)
	if err != nil {
		return 0, "", err
	}
	// The pool makes at most max_in_flight accounts per creation, which
	// takes part of the lead time; count the whole lead (conservative).
	rate := float64(p.Policy.Stock.MaxInFlight) / lead.Seconds()
	t, why := a.TargetFor(vends, now, lead, rate)
	e.targets.mu.Lock()
	if e.targets.m == nil {
		e.targets.m = map[string]targetEntry{}
	}
	e.targets.m[name] = targetEntry{at: now, target: t, why: why}
	e.targets.mu.Unlock()
	if !ok || ent.target != t {
		e.log.Info("stock target follows demand", ovm.LogPool, name, ovm.LogCount, t, "why", why)
	}
	return t, why, nil
}

// vendHistory is when pool's vends since since were asked for: its
// leases, and the vends it could not serve (misses). Both lists are read
// newest first and stop at since.
func (e *Engine) vendHistory(ctx context.Context, pool string, since time.Time) ([]time.Time, error) {
	var out []time.Time
	for cursor := ""; ; {
		page, next, err := e.store.LeaseList(ctx, &ovm.LeaseListParams{Pool: pool,
			PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit, Cursor: cursor}})
		if err != nil {
			return nil, err
		}
		older := 0
		for _, l := range page {
			if l.CreatedAt.Before(since) {
				older++
			} else {
				out = append(out, l.CreatedAt)
			}
		}
		if next == "" || older == len(page) {
			break
		}
		cursor = next
	}
	for cursor := ""; ; {
		page, next, err := e.store.EventList(ctx, &ovm.EventListParams{Pool: pool,
			PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit, Cursor: cursor}})
		if err != nil {
			return nil, err
		}
		for _, ev := range page {
			if ev.Kind == ovm.EventMiss && !ev.Time.Before(since) {
				out = append(out, ev.Time)
			}
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// RecordMiss records a vend of pool the stock could not serve: demand
// for stock.target: auto, which sees only leases otherwise.
func (e *Engine) RecordMiss(ctx context.Context, pool, actor string) error {
	return e.store.EventAppend(ctx, &ovm.Event{Time: e.clock.Now(), Kind: ovm.EventMiss, Pool: pool, Actor: actor,
		Reason: "no account in stock"})
}

// leadTime is how long pool takes from order to ready: the median over
// its ready accounts that were never recycled (their state changed last
// when they became ready), else what this process observed, else
// defaultLead.
func (e *Engine) leadTime(ctx context.Context, pool string) (time.Duration, error) {
	accts, _, err := e.store.AccountList(ctx, &ovm.AccountListParams{Pool: pool, State: ovm.AccountReady,
		PageParams: ovm.PageParams{Limit: 50}})
	if err != nil {
		return 0, err
	}
	var ds []time.Duration
	for _, a := range accts {
		if a.Generation == 0 {
			ds = append(ds, a.StateChangedAt.Sub(a.CreatedAt))
		}
	}
	if len(ds) > 0 {
		slices.Sort(ds)
		return ds[len(ds)/2], nil
	}
	if build, _ := e.observed.get(pool); build > 0 {
		return build, nil
	}
	return defaultLead, nil
}

// withTarget is p's policy with its target now.
func (e *Engine) withTarget(ctx context.Context, p *Pool) (ovm.Pool, string, error) {
	pol := p.Policy
	t, why, err := e.target(ctx, p)
	if err != nil {
		return pol, "", err
	}
	pol.Stock.Target = t
	return pol, why, nil
}
