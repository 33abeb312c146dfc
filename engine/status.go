package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// PoolStatus is what an operator wants to know about a pool.
type PoolStatus struct {
	// Policy is the pool's policy, with the target it has now (a target
	// that follows demand: the estimate, and TargetWhy says how).
	Policy    ovm.Pool
	TargetWhy string
	Counts    *ovm.PoolCounts
	// Quota is the provider's close quota, when it reports one.
	Quota *ovm.Quota
	// Plan is what the planner would do now, and why it holds back.
	Plan Plan
	// Waiting lists accounts whose step waits on something (e.g. quota)
	// or failed last time, and those whose step runs in this process now
	// with live progress (LiveAccount); at most 20 of each working state.
	Waiting []*ovm.Account
	// Drift lists the differences between AWS and the store found by the
	// last drift check (DriftCheckedAt; zero if the provider cannot list).
	Drift          []Finding
	DriftCheckedAt time.Time
	// RecentCloses are the close ledger's entries of the quota window,
	// when the provider keeps one.
	RecentCloses []*ovm.CloseEntry
	// Channels is the provider's report on its outside channels, when it
	// makes one (ovm.ChannelReporter).
	Channels map[string]any
}

// planStatus is the part of a pool's status the planner decides on:
// counts, close quota, and the plan (or the circuit breaker's stop).
func (e *Engine) planStatus(ctx context.Context, p *Pool) (*PoolStatus, error) {
	name := p.Policy.Name
	pol, why, err := e.withTarget(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("stock target: %w", err)
	}
	st := &PoolStatus{Policy: pol, TargetWhy: why}
	if st.Counts, err = e.store.PoolCounts(ctx, name); err != nil {
		return nil, err
	}
	if qr, ok := p.Provider.(ovm.QuotaReporter); ok {
		q, err := qr.CloseQuota(ctx)
		if err != nil {
			return nil, fmt.Errorf("close quota: %w", err)
		}
		st.Quota = &q
	}
	st.Plan = PlanStock(pol, st.Counts, st.Quota, e.clock.Now())
	abandoned, err := e.store.AccountCountSince(ctx, name, ovm.AccountAbandoned, e.clock.Now().Add(-BreakerWindow))
	if err != nil {
		return nil, err
	}
	if abandoned >= BreakerAbandons {
		st.Plan = Plan{Limit: LimitBreaker, Why: fmt.Sprintf("stopped: %d creations failed for good in the last %s; check the provider (see abandoned accounts)", abandoned, BreakerWindow)}
	}
	return st, nil
}

// StockStatus is the part of the named pool's status the planner decides
// on: counts, close quota and the plan (or the circuit breaker's stop). It
// is cheaper than PoolStatus (metrics read it on every scrape).
func (e *Engine) StockStatus(ctx context.Context, name string) (*PoolStatus, error) {
	p := e.pools[name]
	if p == nil {
		return nil, ovm.Errorf(ovm.ENotFound, "pool %q: %w", name, ovm.ErrNotFound)
	}
	return e.planStatus(ctx, p)
}

// PoolStatus gathers the status of the named pool. ErrNotFound if none.
func (e *Engine) PoolStatus(ctx context.Context, name string) (*PoolStatus, error) {
	p := e.pools[name]
	if p == nil {
		return nil, ovm.Errorf(ovm.ENotFound, "pool %q: %w", name, ovm.ErrNotFound)
	}
	st, err := e.planStatus(ctx, p)
	if err != nil {
		return nil, err
	}
	st.Drift, st.DriftCheckedAt = e.drift.Findings(name)
	if cl, ok := p.Provider.(ovm.CloseLister); ok {
		if st.RecentCloses, err = cl.RecentCloses(ctx); err != nil {
			return nil, fmt.Errorf("close ledger: %w", err)
		}
	}
	if cr, ok := p.Provider.(ovm.ChannelReporter); ok {
		st.Channels = cr.Channels()
	}
	for _, state := range []ovm.AccountState{ovm.AccountPending, ovm.AccountCreating, ovm.AccountBootstrapping,
		ovm.AccountCleaning, ovm.AccountClosing, ovm.AccountQuarantined} {
		if st.Counts.ByState[state] == 0 {
			continue
		}
		accts, _, err := e.store.AccountList(ctx, &ovm.AccountListParams{Pool: name, State: state, PageParams: ovm.PageParams{Limit: 20}})
		if err != nil {
			return nil, err
		}
		for _, a := range accts {
			if la := e.LiveAccount(a); la != a || a.Waiting != "" || a.LastError != "" {
				st.Waiting = append(st.Waiting, la)
			}
		}
	}
	return st, nil
}

// LiveAccount returns a with the progress of its step under way in this
// process (a cleaning pass: its number, phase, elapsed time, resources
// found so far) merged into a copy of its progress under "live.", when a's
// provider reports it (ovm.ProgressReporter); otherwise a itself. It is for
// showing only: nothing live is stored, and the runner's write of the step
// is not disturbed. A step that another replica runs is not seen here; its
// start and progress events are in the store.
func (e *Engine) LiveAccount(a *ovm.Account) *ovm.Account {
	p := e.pools[a.Pool]
	if p == nil || !a.State.Working() {
		return a
	}
	r, ok := p.Provider.(ovm.ProgressReporter)
	if !ok {
		return a
	}
	live := r.LiveProgress(a.ID)
	if len(live) == 0 {
		return a
	}
	c := a.Clone()
	if c.Progress == nil {
		c.Progress = map[string]string{}
	}
	for k, v := range live {
		c.Progress["live."+k] = v
	}
	return c
}

// PIN is the PIN a verification call to number must key in now, asked of
// every pool whose provider verifies phone numbers (ovm.PINSource).
func (e *Engine) PIN(number string) (string, bool) {
	for _, p := range e.pools {
		if src, ok := p.Provider.(ovm.PINSource); ok {
			if pin, ok := src.PIN(number); ok {
				return pin, true
			}
		}
	}
	return "", false
}
