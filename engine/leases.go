package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// The lease use cases: a vend (with its wait), an extension and a lease's
// end. The edges (the HTTP API, the console through it, the expirer) call
// them; each chooses the policy, builds the change with a domain
// constructor, lets the store apply it, and wakes the workers that follow.

// VendConfig tunes vends. Zero fields take the documented defaults.
type VendConfig struct {
	// LeasesPerOwner caps one owner's active leases over all pools
	// (default 100; negative: no limit).
	LeasesPerOwner int
	// MaxWait caps how long a vend waits for stock (default 5m).
	MaxWait time.Duration
	// PollInterval is how often a waiting vend tries again when no ready
	// signal arrives (another replica may have made stock; default 500ms).
	PollInterval time.Duration
	// Caps are the spend caps (spend_caps:): a vend is refused while one
	// that applies is reached.
	Caps []ovm.SpendCap
}

func (c VendConfig) withDefaults() VendConfig {
	if c.LeasesPerOwner == 0 {
		c.LeasesPerOwner = 100
	}
	if c.MaxWait == 0 {
		c.MaxWait = 5 * time.Minute
	}
	if c.PollInterval == 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	return c
}

// ownerLimit is the store's form of LeasesPerOwner (0: no limit).
func (c VendConfig) ownerLimit() int { return max(c.LeasesPerOwner, 0) }

// VendRequest is one vend.
type VendRequest struct {
	// BudgetUSD, when set, is a lower budget limit than the template's
	// (allowed when the template's budget lets its lessees lower it).
	BudgetUSD float64
	// Template names the lease's template; Pool, when set, must be its
	// pool. With Pool alone the pool's own template is used, with neither
	// the engine's default template.
	Template string
	Pool     string
	// Requester is who asks, as templates see it (which it may use, the
	// team its lease counts for).
	Requester ovm.Requester
	// Owner is the principal the lease is for; the vend's events name
	// ovm.OwnerActor(Owner).
	Owner string
	// TTL is the lease's duration (0: the pool's default).
	TTL    time.Duration
	Labels map[string]string
	// Principal, an IAM role or user ARN, is trusted by the account's
	// vended role for the lease's life only ("" for none).
	Principal string
	// Wait is how long to wait for stock when the pool is empty (at most
	// VendConfig.MaxWait).
	Wait time.Duration
	// IdempotencyKey, when set, makes the vend once per owner and key for
	// ovm.IdempotencyWindow: a retry gets the first vend's lease.
	IdempotencyKey string
	// StillValid, when set, is asked before every attempt after the first
	// and before a miss is answered: a credential that lapsed while the vend
	// waited gets its error, and no account.
	StillValid func(context.Context) error
}

// Vend leases an account under r's template (of its pool) to r.Owner,
// waiting up to r.Wait for stock. It answers EUnavailable (with RetryAfter) when the pool stays
// empty, ELimitExceeded at a lease limit, EInvalid for a TTL out of the
// pool's range or a principal IAM refuses. replayed says that the lease is
// the one an earlier vend with r.IdempotencyKey made.
func (e *Engine) Vend(ctx context.Context, r *VendRequest) (l *ovm.Lease, replayed bool, err error) {
	tpl, ep, err := e.resolveTemplate(r)
	if err != nil {
		return nil, false, err
	}
	resolved := *r
	resolved.Template, resolved.Pool = tpl.Name, ep.Policy.Name
	r = &resolved
	if r.IdempotencyKey != "" {
		if err := ovm.CheckIdempotencyKey(r.IdempotencyKey); err != nil {
			return nil, false, err
		}
	}
	l, replayed, err = e.vend(ctx, tpl, ep, r)
	if err == nil && replayed && (l.Pool != ep.Policy.Name || l.Template != "" && l.Template != tpl.Name) {
		return nil, false, ovm.Errorf(ovm.EConflict, "this Idempotency-Key was used for lease %s of template %q (pool %q), not template %q: use a new key for another request",
			l.ID, l.Template, l.Pool, tpl.Name)
	}
	return l, replayed, err
}

func (e *Engine) vend(ctx context.Context, tpl *ovm.Template, ep *Pool, r *VendRequest) (*ovm.Lease, bool, error) {
	if r.Wait > e.cfg.Vend.MaxWait {
		return nil, false, ovm.Errorf(ovm.EInvalid, "wait %s is longer than the maximum %s", r.Wait, e.cfg.Vend.MaxWait)
	}
	ttl, err := tpl.Lease.LeaseTTL(r.TTL)
	if err != nil {
		return nil, false, err
	}
	if r.Principal != "" {
		pool := ep.Policy.Name
		if !e.GivesAccess(pool) {
			return nil, false, ovm.Errorf(ovm.EInvalid, "pool %q's provider gives no access per lease: it cannot trust a principal", pool)
		}
		if err := e.CheckPrincipal(ctx, pool, r.Principal); err != nil {
			return nil, false, err
		}
	}
	l, replayed, err := e.vendWaiting(ctx, tpl, ep, r, ttl)
	if err != nil {
		return l, replayed, err
	}
	// The guardrails before any access: the answer, a principal's trust.
	if err := e.guard(ctx, l); err != nil {
		if replayed {
			return nil, false, err // the first vend's answer was lost: retry again
		}
		return nil, false, e.failGuard(context.WithoutCancel(ctx), l, err)
	}
	if replayed {
		return l, true, nil
	}
	if err := e.Grant(ctx, l); err != nil {
		return nil, false, e.undoVend(context.WithoutCancel(ctx), l, err)
	}
	return l, false, nil
}

// vendWaiting tries the store's vend until it leases an account (or finds
// the lease an earlier vend with the key made: replayed), the wait is over,
// or the engine drains.
func (e *Engine) vendWaiting(ctx context.Context, tpl *ovm.Template, ep *Pool, r *VendRequest, ttl time.Duration) (*ovm.Lease, bool, error) {
	pool := ep.Policy.Name
	deadline := e.clock.Now().Add(r.Wait)
	budget, err := ovm.LeaseBudgetOf(tpl.Budget, r.BudgetUSD)
	if err != nil {
		return nil, false, err
	}
	// A spend cap reached refuses a new lease, not the replay of one an
	// earlier vend with the request's key made (the store tells them apart).
	capErr := e.checkCaps(ctx, r.Owner, tpl.TeamOf(r.Requester))
	if capErr != nil && r.IdempotencyKey == "" {
		return nil, false, capErr
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && r.StillValid != nil {
			if err := r.StillValid(ctx); err != nil {
				return nil, false, err
			}
		}
		ready := e.ReadySignal(pool) // before the attempt: no wake-up is missed
		now := e.clock.Now()
		id := ovm.NewID("lse", now)
		l, err := e.store.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: id, Pool: pool,
			Owner: r.Owner, Labels: r.Labels, Principal: r.Principal, Now: now, ExpiresAt: now.Add(ttl),
			OwnerLimit: e.cfg.Vend.ownerLimit(), PoolOwnerLimit: ep.Policy.Lease.MaxPerOwner, IdempotencyKey: r.IdempotencyKey,
			Template: tpl.Name, Terms: tpl.Terms(), TemplateOwnerLimit: templateOwnerLimit(tpl), Team: tpl.TeamOf(r.Requester), TeamLimit: tpl.MaxPerTeam,
			Budget: budget, Refusal: capErr})
		inFlight := r.IdempotencyKey != "" && errors.Is(err, ovm.ErrConflict)
		switch { // the narrower limits first: each is an ErrLeaseLimit too
		case errors.Is(err, ovm.ErrTemplateLeaseLimit):
			return nil, false, ovm.Errorf(ovm.ELimitExceeded, "%s already holds %d active leases of template %q, its lease.max_per_owner: release one first",
				r.Owner, tpl.Lease.MaxPerOwner, tpl.Name)
		case errors.Is(err, ovm.ErrTeamLeaseLimit):
			return nil, false, ovm.Errorf(ovm.ELimitExceeded, "team %s already holds %d active leases of template %q, its max_per_team: a teammate must release one first",
				tpl.TeamOf(r.Requester), tpl.MaxPerTeam, tpl.Name)
		case errors.Is(err, ovm.ErrPoolLeaseLimit):
			return nil, false, ovm.Errorf(ovm.ELimitExceeded, "%s already holds %d active leases in pool %q, its lease.max_per_owner: release one first",
				r.Owner, ep.Policy.Lease.MaxPerOwner, pool)
		case errors.Is(err, ovm.ErrLeaseLimit):
			return nil, false, ovm.Errorf(ovm.ELimitExceeded, "%s already holds %d active leases over all pools, the api.leases_per_owner limit: release one first",
				r.Owner, e.cfg.Vend.LeasesPerOwner)
		case capErr != nil && errors.Is(err, capErr):
			return nil, false, capErr
		case err == nil && l.ID != id:
			e.log.Info("vend replayed for its idempotency key", ovm.LogLeaseID, l.ID, ovm.LogPool, l.Pool, ovm.LogKeyName, r.Owner)
			return l, true, nil
		case err == nil:
			e.planner.Kick()  // the stock went down: order at once
			e.notifier.Kick() // lease.created goes out now
			e.log.Info("account vended", ovm.LogLeaseID, l.ID, ovm.LogAccountID, l.AccountID, ovm.LogPool, pool, ovm.LogKeyName, r.Owner)
			return l, false, nil
		case !errors.Is(err, ovm.ErrEmpty) && !inFlight:
			return nil, false, err
		}
		left := deadline.Sub(e.clock.Now())
		switch {
		case left <= 0 && inFlight:
			return nil, false, &ovm.Error{Code: ovm.EConflict, RetryAfter: time.Second,
				Message: "a request with this Idempotency-Key is still in progress: retry shortly with the same key"}
		case left <= 0:
			return nil, false, e.miss(ctx, r)
		}
		timer := time.NewTimer(min(left, e.cfg.Vend.PollInterval))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, false, ovm.Errorf(ovm.EUnavailable, "request cancelled while waiting for stock")
		case <-e.draining:
			timer.Stop()
			return nil, false, &ovm.Error{Code: ovm.EUnavailable, RetryAfter: time.Second,
				Message: "the server is shutting down; retry (another replica, or this one once it is back)"}
		case <-ready:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// miss answers a vend the stock could not serve, after recording it as
// demand.
func (e *Engine) miss(ctx context.Context, r *VendRequest) error {
	if r.Wait > 0 && r.StillValid != nil { // a credential that lapsed during the wait gets its error, not a miss
		if err := r.StillValid(ctx); err != nil {
			return err
		}
	}
	if err := e.RecordMiss(context.WithoutCancel(ctx), r.Pool, r.Owner); err != nil {
		e.log.Warn("cannot record a vend the stock missed", ovm.LogPool, r.Pool, ovm.LogError, err)
	}
	o := e.cachedOutlook(ctx, r.Pool)
	waited := ""
	if r.Wait > 0 {
		waited = " after waiting " + r.Wait.String()
	}
	return &ovm.Error{Code: ovm.EUnavailable, RetryAfter: o.RetryAfter, Message: missMessage(r.Pool, waited, o)}
}

// missMessage is the message of a vend the stock missed: why, and when to
// expect an account, unless none comes before an operator acts.
func missMessage(pool, waited string, o Outlook) string {
	if o.WaitsForOperator {
		return fmt.Sprintf("pool %q has no account in stock%s: %s; none comes until an operator acts (Retry-After: ask again in %s)",
			pool, waited, o.Reason, o.RetryAfter.Round(time.Second))
	}
	return fmt.Sprintf("pool %q has no account in stock%s: %s; expect one in about %s (Retry-After)",
		pool, waited, o.Reason, o.RetryAfter.Round(time.Second))
}

// undoVend ends lease l, whose principal could not be trusted: the lease is
// of no use without it. A principal IAM refused was never trusted, so a
// lease that gave no access yet goes back to stock (RefuseLease); any other
// ends as account_failed, and its revocation takes the principal away in
// case it was added after all.
func (e *Engine) undoVend(ctx context.Context, l *ovm.Lease, grantErr error) error {
	refused := ovm.ErrorCodeOf(grantErr) == ovm.EInvalid
	e.log.Warn("cannot trust the lease's principal; undoing the vend", ovm.LogLeaseID, l.ID, "iam_refused", refused, ovm.LogError, grantErr)
	err := errors.New("not refused")
	if refused {
		err = e.applyEnd(ctx, l, func(l *ovm.Lease, a *ovm.Account, now time.Time) (*ovm.LeaseUpdate, error) {
			return ovm.RefuseLease(l, a, "IAM refused principal "+l.Principal, now)
		})
		if err == nil {
			e.notifier.Kick()
			e.notifyReady(l.Pool) // the account is stock again
		}
	}
	if err != nil {
		if cur, gerr := e.store.LeaseGet(ctx, l.ID); gerr == nil {
			l = cur // it gave access meanwhile, or was extended
		}
		if _, err := e.EndLease(ctx, l, ovm.LeaseAccountFailed, ovm.ActorEngine); err != nil {
			e.log.Error("cannot end the lease whose principal failed; it expires as usual", ovm.LogLeaseID, l.ID, ovm.LogError, err)
		}
	}
	return fmt.Errorf("the lease could not be made: %w", grantErr)
}

// ExtendLease sets lease l's expiry (as read by the caller) to expiresAt
// within its pool's terms. It is a compare-and-set on the caller's read: an
// extension or an end that won a race since is a conflict.
func (e *Engine) ExtendLease(ctx context.Context, l *ovm.Lease, expiresAt time.Time, actor string) (*ovm.Lease, error) {
	pool := e.pools[l.Pool]
	if pool == nil {
		return nil, ovm.Errorf(ovm.EConflict, "lease %s belongs to pool %q, which is no longer configured", l.ID, l.Pool)
	}
	policy := pool.Policy.Lease
	if l.Terms != nil { // the terms it was made under, whatever the configuration says now
		policy = l.Terms.Lease
	}
	u, err := ovm.ExtendLease(l, policy, expiresAt, actor, e.clock.Now())
	if err != nil {
		return nil, err
	}
	n, err := e.store.LeaseUpdate(ctx, u)
	if errors.Is(err, ovm.ErrConflict) {
		return nil, e.conflict(ctx, l, "extended")
	}
	return n, err
}

// conflict explains a lost compare-and-set on lease l.
func (e *Engine) conflict(ctx context.Context, l *ovm.Lease, what string) error {
	cur, err := e.store.LeaseGet(ctx, l.ID)
	switch {
	case err != nil:
		return err
	case cur.Over(e.clock.Now()):
		return ovm.Errorf(ovm.EConflict, "lease %s is over (%s, expiry %s): it cannot be %s", l.ID, leaseStatus(cur),
			cur.ExpiresAt.UTC().Format(time.RFC3339), what)
	}
	return ovm.Errorf(ovm.EConflict, "lease %s changed meanwhile (version %d, not %d): read it again and retry", l.ID, cur.Version, l.Version)
}

func leaseStatus(l *ovm.Lease) string {
	if l.State == ovm.LeaseEnded {
		return "ended: " + string(l.EndReason)
	}
	return "active"
}

// EndLease ends lease l for reason (released, revoked, expired or
// account_failed) and moves its account on by its pool's retire policy, in
// one write that also marks the lease's revocation. A lease whose time is up
// ends as expired, whatever the reason asked.
func (e *Engine) EndLease(ctx context.Context, l *ovm.Lease, reason ovm.LeaseEndReason, actor string) (*ovm.Lease, error) {
	retire := ovm.Pool{}.WithDefaults().Retire // a pool no longer configured: closed
	if p := e.pools[l.Pool]; p != nil {
		retire = p.Policy.Retire
	}
	var ended *ovm.Lease
	err := e.applyEnd(ctx, l, func(l *ovm.Lease, a *ovm.Account, now time.Time) (*ovm.LeaseUpdate, error) {
		u, err := ovm.EndLease(l, a, reason, retire, actor, now)
		if u != nil {
			ended = u.Lease
		}
		return u, err
	})
	if err != nil {
		return nil, err
	}
	e.runner.Kick()
	e.notifier.Kick() // lease.ended goes out now
	return ended, nil
}

// applyEnd builds the end of lease l with build from l and its account as
// stored, and applies it. A lease or account that moved on meanwhile (an
// extension, the mark of a first access, a same-state update of the
// account) is read again and the end built anew from it, a few times: an
// end asks for no particular version, and the constructor refuses what is
// no longer right (an expiry of a lease extended since).
func (e *Engine) applyEnd(ctx context.Context, l *ovm.Lease, build func(*ovm.Lease, *ovm.Account, time.Time) (*ovm.LeaseUpdate, error)) error {
	for attempt := 0; ; attempt++ {
		a, err := e.store.AccountGet(ctx, l.AccountID)
		if err != nil {
			return err
		}
		u, err := build(l, a, e.clock.Now())
		if err != nil {
			return err
		}
		e.crash("lease.before-end")
		_, err = e.store.LeaseUpdate(ctx, u)
		if !errors.Is(err, ovm.ErrConflict) {
			return err
		}
		cur, gerr := e.store.LeaseGet(ctx, l.ID)
		if gerr != nil {
			return gerr
		}
		if attempt == 3 {
			return e.conflict(ctx, cur, "ended")
		}
		l = cur
	}
}

// Drain ends the waits of vends in progress (they answer 503, retry
// elsewhere) so that a shutdown need not wait for them.
func (e *Engine) Drain() { e.drainOnce.Do(func() { close(e.draining) }) }

// cachedOutlook is the outlook of an empty pool. It is kept for a second:
// a storm of empty answers must not become a storm of status reads. One
// caller per pool computes it at a time; the others wait for its answer (a
// burst of empty answers reads the store once).
func (e *Engine) cachedOutlook(ctx context.Context, pool string) Outlook {
	e.outlookMu.Lock()
	c := e.outlooks[pool]
	if c == nil {
		c = &outlookEntry{}
		e.outlooks[pool] = c
	}
	e.outlookMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := e.clock.Now()
	if !c.at.IsZero() && now.Sub(c.at) < time.Second {
		return c.o
	}
	o, err := e.Outlook(ctx, pool)
	if err != nil {
		e.log.Warn("cannot tell why the pool is empty", ovm.LogPool, pool, ovm.LogError, err)
		o = Outlook{Reason: "the pool's status cannot be read right now", RetryAfter: 10 * time.Second}
	}
	c.at, c.o = e.clock.Now(), o
	return o
}

// outlookEntry is one pool's last outlook, and the lock of its computation.
type outlookEntry struct {
	mu sync.Mutex
	at time.Time
	o  Outlook
}

// templateOwnerLimit is the per-owner limit a vend of tpl asks the store
// for besides the pool's: an implicit template's is the pool's own.
func templateOwnerLimit(tpl *ovm.Template) int {
	if tpl.Implicit {
		return 0
	}
	return tpl.Lease.MaxPerOwner
}
