package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	leases, misses, err := e.demandSince(ctx, name, now.Add(-a.Lookback))
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
	t, why := a.TargetFor(ovm.Demand(leases, misses, lead), now, lead, rate)
	if len(misses) > 0 {
		// Misses may raise the target above what the leases alone call
		// for by at most missStep per estimate: refused vends are a guess
		// at demand, and stock costs accounts and close quota.
		byLeases, _ := a.TargetFor(ovm.Demand(leases, nil, lead), now, lead, rate)
		prev := byLeases
		if ok {
			prev = ent.target
		} else if last, err := e.lastTarget(ctx, name, now); err == nil && last >= 0 {
			prev = last
		}
		if bound := max(byLeases, prev+missStep(prev)); t > bound {
			why += fmt.Sprintf("; misses raise it by at most %d per estimate: %d, not %d", missStep(prev), bound, t)
			t = bound
		}
	}
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

// missStep is how much misses may raise a target of prev in one estimate:
// half of it, at least one.
func missStep(prev int) int { return max(1, prev/2) }

// lastTarget is pool's target as the planner's leader last sampled it
// (within two sample intervals of now), or -1: the bound on the rise misses
// may cause holds across a change of leader.
func (e *Engine) lastTarget(ctx context.Context, pool string, now time.Time) (int, error) {
	samples, err := e.store.PoolSampleList(ctx, pool, now.Add(-2*ovm.SampleInterval))
	if err != nil || len(samples) == 0 {
		return -1, err
	}
	return samples[len(samples)-1].Target, nil
}

// demandSince is pool's demand since since: its leases (owner and time,
// read newest first, stopping at since) and its miss counts.
func (e *Engine) demandSince(ctx context.Context, pool string, since time.Time) ([]ovm.LeaseStart, []*ovm.MissCount, error) {
	var leases []ovm.LeaseStart
	for cursor := ""; ; {
		page, next, err := e.store.LeaseList(ctx, &ovm.LeaseListParams{Pool: pool,
			PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit, Cursor: cursor}})
		if err != nil {
			return nil, nil, err
		}
		older := 0
		for _, l := range page {
			if l.CreatedAt.Before(since) {
				older++
			} else {
				leases = append(leases, ovm.LeaseStart{Owner: l.Owner, At: l.CreatedAt})
			}
		}
		if next == "" || older == len(page) {
			break
		}
		cursor = next
	}
	misses, err := e.store.MissList(ctx, pool, since)
	if err != nil {
		return nil, nil, err
	}
	return leases, misses, nil
}

// RecordMiss counts a vend of pool by owner that the stock could not
// serve: demand for stock.target: auto, which sees only leases otherwise.
func (e *Engine) RecordMiss(ctx context.Context, pool, owner string) error {
	return e.store.MissAdd(ctx, pool, owner, e.clock.Now())
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

// DemandReport says where a pool's demand came from over its demand
// model's lookback (4 weeks for a pool without stock.target: auto): per
// owner, the leases made, the vends the stock refused, and how many of
// those the model counts (ovm.Demand).
type DemandReport struct {
	Pool     string
	Since    time.Time
	LeadTime time.Duration
	// Leases, Misses and CountedMisses are the pool's totals.
	Leases, Misses, CountedMisses int
	// Owners are the owners by demand, largest first (at most 100).
	Owners []OwnerDemand
}

// OwnerDemand is one owner's part of a pool's demand.
type OwnerDemand struct {
	Owner                         string
	Leases, Misses, CountedMisses int
}

// Demand reports where pool's demand came from.
func (e *Engine) Demand(ctx context.Context, pool string) (*DemandReport, error) {
	p := e.pools[pool]
	if p == nil {
		return nil, ovm.Errorf(ovm.ENotFound, "pool %q: %w", pool, ovm.ErrNotFound)
	}
	lookback := 4 * ovm.Week
	if a := p.Policy.Stock.Auto; a != nil && a.Lookback > 0 {
		lookback = a.Lookback
	}
	since := e.clock.Now().Add(-lookback)
	leases, misses, err := e.demandSince(ctx, pool, since)
	if err != nil {
		return nil, err
	}
	lead, err := e.leadTime(ctx, pool)
	if err != nil {
		return nil, err
	}
	r := &DemandReport{Pool: pool, Since: since, LeadTime: lead, Leases: len(leases)}
	by := map[string]*OwnerDemand{}
	owner := func(name string) *OwnerDemand {
		if by[name] == nil {
			by[name] = &OwnerDemand{Owner: name}
		}
		return by[name]
	}
	for _, l := range leases {
		owner(l.Owner).Leases++
	}
	for _, m := range misses {
		owner(m.Owner).Misses += m.Count
		r.Misses += m.Count
	}
	// What the model counts of each owner's misses: Demand of that owner
	// alone, less its leases.
	for name, o := range by {
		if o.Misses == 0 {
			continue
		}
		var ls []ovm.LeaseStart
		for _, l := range leases {
			if l.Owner == name {
				ls = append(ls, l)
			}
		}
		var ms []*ovm.MissCount
		for _, m := range misses {
			if m.Owner == name {
				ms = append(ms, m)
			}
		}
		o.CountedMisses = len(ovm.Demand(ls, ms, lead)) - len(ls)
		r.CountedMisses += o.CountedMisses
	}
	for _, o := range by {
		r.Owners = append(r.Owners, *o)
	}
	slices.SortFunc(r.Owners, func(a, b OwnerDemand) int {
		if d := (b.Leases + b.Misses) - (a.Leases + a.Misses); d != 0 {
			return d
		}
		return strings.Compare(a.Owner, b.Owner)
	})
	r.Owners = r.Owners[:min(len(r.Owners), 100)]
	return r, nil
}
