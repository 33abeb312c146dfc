package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// Outlook is what a caller who found a pool empty is told: why there is no
// account in stock, and when the next one is expected.
type Outlook struct {
	// Reason says why the stock is empty, in the planner's words.
	Reason string
	// Limit is the planner's bound behind Reason, if one holds it back.
	Limit Limit
	// RetryAfter is the expected time until the next account is ready, or
	// until the bound that holds the planner back lifts (at least 1s).
	RetryAfter time.Duration
	// WaitsForOperator: no account comes until an operator acts, so
	// RetryAfter is only how often to ask, not an expectation.
	WaitsForOperator bool
}

// OutlookInput is what DecideOutlook weighs, gathered by Engine.Outlook.
type OutlookInput struct {
	Policy ovm.Pool
	Counts *ovm.PoolCounts
	Quota  *ovm.Quota
	Plan   Plan
	// BreakerLiftsAt is when the circuit breaker lets the planner order
	// again (Plan.Limit is LimitBreaker).
	BreakerLiftsAt time.Time
	// OnTheWay are accounts in flight or being cleaned (recycle), at most
	// a few, with the state they are in.
	OnTheWay []*ovm.Account
	// NextLeaseEnd is the earliest expiry of the pool's active leases
	// (zero if none), when the ceiling holds the planner back.
	NextLeaseEnd time.Time
	// BuildTime and CleanTime are the recently observed times from order
	// to ready and from cleaning to ready (zero: not observed yet).
	BuildTime, CleanTime time.Duration
	// Tick is the planner's interval.
	Tick time.Duration
}

// quarantineRetryAfter is the Retry-After of a pool whose live accounts
// wait for an operator: no estimate is possible, so callers are asked to
// come back rarely.
const quarantineRetryAfter = 5 * time.Minute

// unknownBuildTime is assumed for an account's making before this process
// has seen one made.
const unknownBuildTime = 5 * time.Second

// DecideOutlook is the pure part of Outlook.
func DecideOutlook(in OutlookInput, now time.Time) Outlook {
	build := in.BuildTime
	if build <= 0 {
		build = unknownBuildTime
	}
	clean := in.CleanTime
	if clean <= 0 {
		clean = build
	}
	at := func(t time.Time) time.Duration { return max(t.Sub(now), time.Second) }
	o := Outlook{Limit: in.Plan.Limit}
	if in.Plan.Limit == LimitBreaker {
		o.Reason = "the stock planner is " + in.Plan.Why
		o.RetryAfter = at(in.BreakerLiftsAt.Add(build))
		return o
	}
	if len(in.OnTheWay) > 0 {
		// The most advanced account decides: the earliest expected end.
		var first time.Time
		for _, a := range in.OnTheWay {
			end := a.CreatedAt.Add(build)
			if a.State == ovm.AccountCleaning {
				end = a.StateChangedAt.Add(clean)
			}
			if in.BuildTime <= 0 && a.NextAttemptAt.After(end) {
				end = a.NextAttemptAt // not observed yet: at least the next step
			}
			if first.IsZero() || end.Before(first) {
				first = end
			}
		}
		o.Reason = "refilling: " + onTheWay(in.Counts, in.Policy.Retire.Mode)
		o.RetryAfter = at(first)
		return o
	}
	switch {
	case in.Plan.Create > 0:
		o.Reason = fmt.Sprintf("refilling: ordering %d account(s) now", in.Plan.Create)
		o.RetryAfter = at(now.Add(in.Tick + build))
	case in.Plan.Limit == LimitCloseQuota && in.Quota != nil:
		o.Reason = "no account is being made: " + in.Plan.Why
		o.RetryAfter = at(in.Quota.NextFreeAt.Add(build))
	case in.Plan.Limit == LimitMinSpacing:
		o.Reason = "no account is being made: " + in.Plan.Why
		o.RetryAfter = at(in.Plan.NextAt.Add(build))
	case in.Plan.Limit == LimitCeiling && in.NextLeaseEnd.IsZero() && in.Counts.ByState[ovm.AccountQuarantined] > 0:
		// Nothing comes back by itself: the live accounts wait for an operator.
		o.Reason = fmt.Sprintf("no account is being made: %s, %d of them quarantined and waiting for an operator (ovm account retry or retire)",
			in.Plan.Why, in.Counts.ByState[ovm.AccountQuarantined])
		o.RetryAfter = quarantineRetryAfter
		o.WaitsForOperator = true
	case in.Plan.Limit == LimitCeiling:
		o.Reason = "no account is being made: " + in.Plan.Why + "; accounts come back as leases end"
		o.RetryAfter = time.Minute
		if !in.NextLeaseEnd.IsZero() {
			next := build
			if in.Policy.Retire.Mode == ovm.RetireRecycle {
				next = clean
			}
			o.RetryAfter = at(in.NextLeaseEnd.Add(next))
		}
	case in.Policy.Stock.Target == 0:
		o.Reason = "the pool keeps no stock (stock.target is 0)"
		o.RetryAfter = time.Minute
	default:
		// The stock is counted complete (e.g. a vend took the last account
		// a moment ago); the planner orders at its next tick.
		o.Reason = "refilling: the planner orders at its next tick"
		o.RetryAfter = at(now.Add(in.Tick + build))
	}
	return o
}

// onTheWay describes the accounts on the way to stock ("2 accounts on the
// way (1 creating, 1 bootstrapping)").
func onTheWay(c *ovm.PoolCounts, mode ovm.RetireMode) string {
	states := []ovm.AccountState{ovm.AccountPending, ovm.AccountCreating, ovm.AccountBootstrapping}
	if mode == ovm.RetireRecycle {
		states = append(states, ovm.AccountCleaning)
	}
	var parts []string
	n := 0
	for _, s := range states {
		if k := c.ByState[s]; k > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", k, s))
			n += k
		}
	}
	return fmt.Sprintf("%d account(s) on the way (%s)", n, strings.Join(parts, ", "))
}

// Outlook gathers and decides pool's outlook. ErrNotFound if no such pool.
func (e *Engine) Outlook(ctx context.Context, pool string) (Outlook, error) {
	p := e.pools[pool]
	if p == nil {
		return Outlook{}, ovm.Errorf(ovm.ENotFound, "pool %q: %w", pool, ovm.ErrNotFound)
	}
	st, err := e.planStatus(ctx, p)
	if err != nil {
		return Outlook{}, err
	}
	now := e.clock.Now()
	in := OutlookInput{Policy: st.Policy, Counts: st.Counts, Quota: st.Quota, Plan: st.Plan, Tick: e.cfg.Tick}
	in.BuildTime, in.CleanTime = e.observed.get(pool)
	states := []ovm.AccountState{ovm.AccountPending, ovm.AccountCreating, ovm.AccountBootstrapping}
	if st.Policy.Retire.Mode == ovm.RetireRecycle {
		states = append(states, ovm.AccountCleaning)
	}
	for _, s := range states {
		if st.Counts.ByState[s] == 0 {
			continue
		}
		accts, _, err := e.store.AccountList(ctx, &ovm.AccountListParams{Pool: pool, State: s, PageParams: ovm.PageParams{Limit: 20}})
		if err != nil {
			return Outlook{}, err
		}
		in.OnTheWay = append(in.OnTheWay, accts...)
	}
	switch st.Plan.Limit {
	case LimitBreaker:
		if in.BreakerLiftsAt, err = e.breakerLiftsAt(ctx, pool, now); err != nil {
			return Outlook{}, err
		}
	case LimitCeiling:
		// The earliest-ending active leases of all pools, from the expiry
		// index (cheap); the first of this pool among them is the answer.
		leases, err := e.store.LeaseListExpired(ctx, now.Add(100*365*24*time.Hour), 50)
		if err != nil {
			return Outlook{}, err
		}
		for _, l := range leases {
			if l.Pool == pool {
				in.NextLeaseEnd = l.ExpiresAt
				break
			}
		}
	}
	return DecideOutlook(in, now), nil
}

// breakerLiftsAt finds when fewer than BreakerAbandons abandons will be
// inside the breaker's window: the latest t with BreakerAbandons abandons
// at or after t, plus the window (to a second, by bisection).
func (e *Engine) breakerLiftsAt(ctx context.Context, pool string, now time.Time) (time.Time, error) {
	lo, hi := now.Add(-BreakerWindow), now // count(lo) >= limit; find the largest such lo
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		n, err := e.store.AccountCountSince(ctx, pool, ovm.AccountAbandoned, mid)
		if err != nil {
			return time.Time{}, err
		}
		if n >= BreakerAbandons {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo.Add(BreakerWindow), nil
}

// observed keeps, per pool, the recently observed times to make and to
// clean an account (exponentially weighted; in memory, so a restarted
// process starts without them).
type observed struct {
	mu    sync.Mutex
	build map[string]time.Duration
	clean map[string]time.Duration
}

func (o *observed) add(m *map[string]time.Duration, pool string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if *m == nil {
		*m = map[string]time.Duration{}
	}
	if old, ok := (*m)[pool]; ok {
		d = (3*old + d) / 4
	}
	(*m)[pool] = d
}

func (o *observed) get(pool string) (build, clean time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.build[pool], o.clean[pool]
}

// readyAfter records an account that became ready: made (from its order)
// or cleaned (from the start of its cleaning).
func (o *observed) readyAfter(before *ovm.Account, now time.Time) {
	switch before.State {
	case ovm.AccountBootstrapping:
		o.add(&o.build, before.Pool, now.Sub(before.CreatedAt))
	case ovm.AccountCleaning:
		o.add(&o.clean, before.Pool, now.Sub(before.StateChangedAt))
	}
}
