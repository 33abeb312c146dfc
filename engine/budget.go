package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ovmdev/ovm"
)

// BudgetObserver is told of each budget act and of the frozen leases, for
// metrics.
type BudgetObserver interface {
	// BudgetAct reports one threshold's act (notify, freeze, end) on a
	// lease of template.
	BudgetAct(action ovm.BudgetAction, template string)
	// Budgets reports, after a round, the frozen leases by pool and the
	// active leases whose projection is at or past share of their limit
	// (near), by pool.
	Budgets(frozen, near map[string]int)
}

type nopBudgetObserver struct{}

func (nopBudgetObserver) BudgetAct(ovm.BudgetAction, string)     {}
func (nopBudgetObserver) Budgets(map[string]int, map[string]int) {}

// nearShare is the share of a limit from which a lease counts as near its
// budget (the ovm_budget_near_leases gauge).
const nearShare = 0.8

// budgets acts on the budgets of active leases whose spend summary is in
// sums (by lease id): each threshold their projection reached, once per
// limit (ovm.ActOnBudget), replacing each lease of active it changed;
// then it puts in place the freezes of frozen leases that are not yet (a
// freeze recorded by a replica that died before calling AWS).
func (s *Spender) budgets(ctx context.Context, active []*ovm.Lease, sums map[string]*ovm.SpendSummary, observe bool) error {
	now := s.e.clock.Now()
	frozen, near, seen := map[string]int{}, map[string]int{}, map[string]bool{}
	var errs []error
	for i, l := range active {
		if sum, ok := sums[l.ID]; ok && l.Budget != nil && l.State == ovm.LeaseActive {
			spend, projected := ovm.Projection(sum, now, l.Budget.Project, l.ExpiresAt)
			if projected >= nearShare*l.Budget.LimitUSD {
				near[l.Pool]++
			}
			for _, t := range l.Budget.Due(projected) {
				if t.Action == ovm.BudgetFreeze && l.Frozen != nil {
					continue // frozen already: acts again once unfrozen, if still past it
				}
				cur, err := s.e.actOnBudget(ctx, l, t, spend, projected)
				if err != nil {
					errs = append(errs, fmt.Errorf("budget of lease %s: %w", l.ID, err))
					break
				}
				l, active[i] = cur, cur
				if l.State != ovm.LeaseActive {
					break
				}
			}
		}
		if l.State != ovm.LeaseActive || l.Frozen == nil {
			continue
		}
		frozen[l.Pool]++
		key := l.ID + "@" + strconv.FormatInt(l.Version, 10) // this freeze, not an earlier one of the lease
		seen[key] = true
		if s.frozen[key] {
			continue
		}
		if err := s.e.enforceFreeze(ctx, l); err != nil {
			errs = append(errs, err)
			continue
		}
		s.frozen[key] = true
	}
	for k := range s.frozen { // only the freezes of leases frozen now
		if !seen[k] {
			delete(s.frozen, k)
		}
	}
	if observe {
		s.budgetObserver().Budgets(frozen, near)
	}
	return errors.Join(errs...)
}

func (s *Spender) budgetObserver() BudgetObserver {
	if s.e.cfg.BudgetObserver != nil {
		return s.e.cfg.BudgetObserver
	}
	return nopBudgetObserver{}
}

// actOnBudget records threshold t's act on lease l, with the spend and
// projection read again from its ledger at each attempt (a limit raised
// since the round read the lease is the one the threshold is compared
// with; a threshold another replica acted on meanwhile is not acted on
// twice), then carries it out: a freeze is put in place on AWS, an end
// wakes the runner. It returns the lease as it stands after the act.
func (e *Engine) actOnBudget(ctx context.Context, l *ovm.Lease, t ovm.Threshold, spend, projected float64) (*ovm.Lease, error) {
	retire := ovm.Pool{}.WithDefaults().Retire
	if p := e.pools[l.Pool]; p != nil {
		retire = p.Policy.Retire
	}
	for attempt := 0; ; attempt++ {
		a, err := e.store.AccountGet(ctx, l.AccountID)
		if err != nil {
			return l, err
		}
		u, err := ovm.ActOnBudget(l, a, t, spend, projected, retire, e.clock.Now())
		if err != nil {
			if ovm.ErrorCodeOf(err) == ovm.EConflict {
				return l, nil // not due at this lease as it stands
			}
			return l, err
		}
		e.crash("budget.before-act")
		n, err := e.store.LeaseUpdate(ctx, u)
		if err == nil {
			e.crash("budget.after-act") // recorded (and notified), not yet carried out
			e.log.Warn("budget threshold reached", ovm.LogLeaseID, l.ID, ovm.LogPool, l.Pool, "threshold", t.Percent(),
				"action", t.Action, "limit_usd", l.Budget.LimitUSD, "spend_usd", spend, "projected_usd", projected)
			if e.cfg.BudgetObserver != nil {
				e.cfg.BudgetObserver.BudgetAct(t.Action, templateOf(l))
			}
			e.notifier.Kick()
			switch {
			case n.State != ovm.LeaseActive:
				e.runner.Kick()
			case n.Frozen != nil && l.Frozen == nil:
				if err := e.enforceFreeze(ctx, n); err != nil {
					e.log.Error("cannot put the lease's freeze in place on AWS yet; it gives no access meanwhile, and the drift check retries",
						ovm.LogLeaseID, n.ID, ovm.LogError, err)
				}
			}
			return n, nil
		}
		if !errors.Is(err, ovm.ErrConflict) || attempt == 3 {
			return l, err
		}
		cur, gerr := e.store.LeaseGet(ctx, l.ID)
		if gerr != nil {
			return l, gerr
		}
		l = cur
		if cur.State != ovm.LeaseActive || cur.Budget == nil {
			return cur, nil
		}
		if spend, projected, err = e.projection(ctx, cur); err != nil {
			return cur, err
		}
	}
}

// projection is lease l's spend and projection as its ledger says now.
func (e *Engine) projection(ctx context.Context, l *ovm.Lease) (spend, projected float64, err error) {
	g, err := e.store.SpendGet(ctx, l.ID)
	if errors.Is(err, ovm.ErrNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	horizon := time.Duration(0)
	if l.Budget != nil {
		horizon = l.Budget.Project
	}
	spend, projected = ovm.Projection(g.Summary(), e.clock.Now(), horizon, l.ExpiresAt)
	return spend, projected, nil
}

func templateOf(l *ovm.Lease) string {
	if l.Template != "" {
		return l.Template
	}
	return l.Pool
}

// enforceFreeze puts frozen lease l's freeze in place on its account's
// AWS side (ovm.Freezer), once: the account records first that a freeze
// may be on AWS (ovm.RecordFreezing), so that an end of the lease
// meanwhile lifts it, then that it is in place (ovm.RecordFrozen). The
// lease gives no access from the moment it is frozen in the store; this
// stops what was given before. A freeze put on AWS after the lease ended
// is taken off again at once.
func (e *Engine) enforceFreeze(ctx context.Context, l *ovm.Lease) error {
	p := e.pools[l.Pool]
	if p == nil {
		return nil
	}
	fr, ok := p.Provider.(ovm.Freezer)
	if !ok {
		return nil
	}
	called := false
	for range 4 {
		a, err := e.store.AccountGet(ctx, l.AccountID)
		if err != nil {
			return err
		}
		if a.State != ovm.AccountLeased || a.LeaseID != l.ID {
			if called { // the lease ended while AWS froze its account
				return e.compensateFreeze(ctx, fr, a, l)
			}
			return nil // its revocation stops every access
		}
		if ovm.FrozenDone(a) == l.ID {
			return nil
		}
		if ovm.FrozenOn(a) != l.ID {
			u, err := ovm.RecordFreezing(a, l.ID, e.clock.Now())
			if err != nil {
				return err
			}
			if a, err = e.store.AccountUpdate(ctx, u); errors.Is(err, ovm.ErrConflict) {
				continue
			} else if err != nil {
				return err
			}
		}
		sctx, cancel := context.WithTimeout(ctx, e.cfg.StepTimeout)
		res, err := fr.Freeze(sctx, a, ovm.Freeze{LeaseID: l.ID, At: l.Frozen.At, Stop: l.Frozen.Stop, Principal: l.Principal})
		cancel()
		if err != nil {
			return RefusedByAWS(fmt.Sprintf("freeze account %s of lease %s", a.AWSAccountID, l.ID), err)
		}
		called = true
		e.crash("budget.after-freeze") // in place on AWS, not yet recorded
		if len(res.Stopped) > 0 {
			// What the freeze stopped stops counting now: OVM's own calls
			// are not read from CloudTrail as the lessee's. Once per
			// freeze (its event id), whatever the retries.
			id := "ovm-freeze-" + l.ID + "-" + strconv.FormatInt(l.Version, 10)
			now := e.clock.Now()
			for _, c := range res.Stopped {
				c.EventID, c.At = id, now
			}
			if _, _, err := e.applySpend(ctx, l, func(g *ovm.SpendLedger) ([]string, bool) {
				return nil, g.Apply(id, res.Stopped)
			}); err != nil {
				return err
			}
		}
		u, err := ovm.RecordFrozen(a, l.ID, true, res.Report, e.clock.Now())
		if err != nil {
			continue // the lease ended meanwhile: read again, and take the freeze off
		}
		if _, err := e.store.AccountUpdate(ctx, u); !errors.Is(err, ovm.ErrConflict) {
			return err
		}
	}
	return ovm.Errorf(ovm.EConflict, "account %s kept changing while lease %s's freeze was put in place", l.AccountID, l.ID)
}

// compensateFreeze takes off account a a freeze of lease l that AWS put
// on after the lease ended (its account may already have been unguarded).
func (e *Engine) compensateFreeze(ctx context.Context, fr ovm.Freezer, a *ovm.Account, l *ovm.Lease) error {
	sctx, cancel := context.WithTimeout(ctx, e.cfg.StepTimeout)
	defer cancel()
	if err := fr.Unfreeze(sctx, a, ovm.Freeze{LeaseID: l.ID}); err != nil {
		return RefusedByAWS(fmt.Sprintf("take off account %s the freeze of lease %s, which ended meanwhile (its cleaning takes it off too)", a.AWSAccountID, l.ID), err)
	}
	return nil
}

// liftFreeze lifts the freeze on lease l's account when it is in place and
// l is no longer frozen (unfrozen): the SCP detached, the lease's
// principal trusted again.
func (e *Engine) liftFreeze(ctx context.Context, l *ovm.Lease) error {
	p := e.pools[l.Pool]
	if p == nil {
		return nil
	}
	fr, ok := p.Provider.(ovm.Freezer)
	if !ok {
		return nil
	}
	for range 4 {
		a, err := e.store.AccountGet(ctx, l.AccountID)
		if err != nil {
			return err
		}
		if a.State != ovm.AccountLeased || a.LeaseID != l.ID || ovm.FrozenOn(a) != l.ID {
			return nil
		}
		cur, err := e.store.LeaseGet(ctx, l.ID)
		if err != nil {
			return err
		}
		if cur.Frozen != nil {
			return nil // frozen again meanwhile
		}
		sctx, cancel := context.WithTimeout(ctx, e.cfg.StepTimeout)
		err = fr.Unfreeze(sctx, a, ovm.Freeze{LeaseID: l.ID, Principal: l.Principal})
		cancel()
		if err != nil {
			return RefusedByAWS(fmt.Sprintf("lift the freeze of account %s of lease %s", a.AWSAccountID, l.ID), err)
		}
		u, err := ovm.RecordFrozen(a, l.ID, false, "", e.clock.Now())
		if err != nil {
			return err
		}
		if _, err := e.store.AccountUpdate(ctx, u); !errors.Is(err, ovm.ErrConflict) {
			return err
		}
	}
	return ovm.Errorf(ovm.EConflict, "account %s kept changing while lease %s's freeze was lifted", l.AccountID, l.ID)
}

// FreezeLease freezes lease l (an admin's act): it gives no access from
// now on, and its account's access is stopped on AWS.
func (e *Engine) FreezeLease(ctx context.Context, l *ovm.Lease, stop bool, why, actor string) (*ovm.Lease, error) {
	u, err := ovm.FreezeLease(l, stop, actor, why, e.clock.Now())
	if err != nil {
		return nil, err
	}
	n, err := e.store.LeaseUpdate(ctx, u)
	if err != nil {
		return nil, e.asConflict(ctx, l, err, "frozen")
	}
	if err := e.enforceFreeze(ctx, n); err != nil {
		e.log.Error("cannot put the lease's freeze in place on AWS yet; the spend worker retries", ovm.LogLeaseID, n.ID, ovm.LogError, err)
	}
	return n, nil
}

// UnfreezeLease gives frozen lease l its access back (an admin's act): the
// lease first, then its account on AWS. A lift that fails is retried by
// the drift check; meanwhile AWS still denies the lessee.
func (e *Engine) UnfreezeLease(ctx context.Context, l *ovm.Lease, actor string) (*ovm.Lease, error) {
	if err := e.stillPastFreeze(ctx, l); err != nil {
		return nil, err
	}
	u, err := ovm.UnfreezeLease(l, actor, e.clock.Now())
	if err != nil {
		return nil, err
	}
	n, err := e.store.LeaseUpdate(ctx, u)
	if err != nil {
		return nil, e.asConflict(ctx, l, err, "unfrozen")
	}
	e.crash("budget.after-unfreeze")
	if err := e.liftFreeze(ctx, n); err != nil {
		e.log.Error("cannot lift the lease's freeze on AWS yet; the drift check retries", ovm.LogLeaseID, n.ID, ovm.LogError, err)
	}
	return n, nil
}

// stillPastFreeze refuses the unfreeze of lease l while its projected
// spend is at or past a freeze threshold of its budget, acted or not: the
// admin raises the budget first.
func (e *Engine) stillPastFreeze(ctx context.Context, l *ovm.Lease) error {
	if l.Budget == nil || l.Frozen == nil {
		return nil
	}
	_, projected, err := e.projection(ctx, l)
	if err != nil {
		return err
	}
	if t, ok := l.Budget.PastFreeze(projected); ok {
		return ovm.Errorf(ovm.EConflict, "lease %s's spend (%.2f USD projected) is past its %s freeze threshold of %.2f USD: raise its budget first (PATCH /v1/leases/%s {\"budget_usd\": N}, ovm lease budget)",
			l.ID, projected, t.Percent(), l.Budget.LimitUSD, l.ID)
	}
	return nil
}

// SetLeaseBudget sets active lease l's budget limit (an admin's act).
func (e *Engine) SetLeaseBudget(ctx context.Context, l *ovm.Lease, limitUSD float64, actor string) (*ovm.Lease, error) {
	u, err := ovm.SetLeaseBudget(l, limitUSD, actor, e.clock.Now())
	if err != nil {
		return nil, err
	}
	n, err := e.store.LeaseUpdate(ctx, u)
	if err != nil {
		return nil, e.asConflict(ctx, l, err, "changed")
	}
	return n, nil
}

// asConflict turns a store's ErrConflict on lease l into the caller's
// answer (what the lease is now).
func (e *Engine) asConflict(ctx context.Context, l *ovm.Lease, err error, what string) error {
	if !errors.Is(err, ovm.ErrConflict) {
		return err
	}
	return e.conflict(ctx, l, what)
}

// checkFreezes, for pool's leased accounts, lifts a freeze left on an
// account whose lease is no longer frozen (an unfreeze that could not
// lift it, a replica killed in between), and puts in place the freeze of a
// frozen lease that is not (a failed AWS call, a replica killed before it,
// a pool whose spend worker does not run).
func (d *Drift) checkFreezes(ctx context.Context, pool string) error {
	e := d.e
	params := &ovm.AccountListParams{Pool: pool, State: ovm.AccountLeased, PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}}
	var errs []error
	for {
		page, next, err := e.store.AccountList(ctx, params)
		if err != nil {
			return err
		}
		for _, a := range page {
			if a.LeaseID == "" {
				continue
			}
			l, err := e.store.LeaseGet(ctx, a.LeaseID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			switch {
			case l.Frozen == nil && ovm.FrozenOn(a) == l.ID:
				err = e.liftFreeze(ctx, l)
			case l.Frozen != nil && l.State == ovm.LeaseActive && ovm.FrozenDone(a) != l.ID:
				err = e.enforceFreeze(ctx, l)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		if next == "" {
			return errors.Join(errs...)
		}
		params.Cursor = next
	}
}
