package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/ovmdev/ovm"
)

// guard puts lease l's guardrails on its account, once: the vend calls it
// before the lease gives any access; a replayed vend and the drift check
// call it when a vend did not live to finish it. A lease without
// guardrails needs none. Until it succeeds, the lease issues no access
// (access refuses an account that is not ovm.Guarded).
func (e *Engine) guard(ctx context.Context, l *ovm.Lease) error {
	g, ok := l.Terms.Guard()
	if !ok {
		return nil
	}
	gr, ok := e.pools[l.Pool].Provider.(ovm.Guardrailer)
	if !ok {
		return ovm.Errorf(ovm.EInternal, "pool %q's provider enforces no guardrails, which lease %s's template %s has", l.Pool, l.ID, g.Template)
	}
	for range 4 {
		a, err := e.store.AccountGet(ctx, l.AccountID)
		if err != nil {
			return err
		}
		if a.State != ovm.AccountLeased || a.LeaseID != l.ID {
			return ovm.Errorf(ovm.EConflict, "lease %s no longer holds account %s", l.ID, l.AccountID)
		}
		if ovm.Guarded(a) {
			return nil
		}
		if err := gr.Guard(ctx, a, g); err != nil {
			return RefusedByAWS(fmt.Sprintf("put the guardrails of template %s on account %s for lease %s", g.Template, a.AWSAccountID, l.ID), err)
		}
		e.crash("vend.after-guard") // in place in AWS, not yet recorded
		u, err := ovm.RecordGuarded(a, ovm.ActorEngine, e.clock.Now())
		if err != nil {
			return err
		}
		if _, err := e.store.AccountUpdate(ctx, u); !errors.Is(err, ovm.ErrConflict) {
			return err
		}
		// The account moved meanwhile (another replica recorded it, or the
		// lease ended): read it again.
	}
	return ovm.Errorf(ovm.EConflict, "account %s kept changing while lease %s's guardrails were put on", l.AccountID, l.ID)
}

// failGuard ends lease l, whose guardrails could not be put on: its
// account is retired (revoked, unguarded, cleaned or closed), never handed
// over without them. The caller gets err.
func (e *Engine) failGuard(ctx context.Context, l *ovm.Lease, err error) error {
	e.log.Warn("cannot put the lease's guardrails on; ending the lease", ovm.LogLeaseID, l.ID, ovm.LogAccountID, l.AccountID, ovm.LogError, err)
	if cur, gerr := e.store.LeaseGet(ctx, l.ID); gerr == nil {
		l = cur
	}
	if _, eerr := e.EndLease(ctx, l, ovm.LeaseAccountFailed, ovm.ActorEngine); eerr != nil {
		e.log.Error("cannot end the lease whose guardrails failed; it expires as usual, and gives no access meanwhile",
			ovm.LogLeaseID, l.ID, ovm.LogError, eerr)
	}
	return fmt.Errorf("the lease could not be made: %w", err)
}

// checkGuards compares the guardrails of pool's leased accounts with what
// their leases want: it finishes a guard a vend did not (a crash between
// the attachment and its record), and puts back guardrails changed or
// taken off outside OVM, reporting each as drift. A frozen account is
// left alone: its freeze binds OVM's own sessions too where it is a
// permissions boundary (a management account), and the unfreeze puts the
// guardrails' back. One account's failure does not stop the others'
// check; the errors are returned together.
func (d *Drift) checkGuards(ctx context.Context, pool string, gr ovm.Guardrailer) (int, error) {
	e := d.e
	found := 0
	var errs []error
	params := &ovm.AccountListParams{Pool: pool, State: ovm.AccountLeased, PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}}
	for {
		page, next, err := e.store.AccountList(ctx, params)
		if err != nil {
			return found, errors.Join(append(errs, err)...)
		}
		for _, a := range page {
			if _, wants := ovm.GuardOf(a); !wants || ovm.FrozenOn(a) != "" {
				continue
			}
			n, err := d.checkGuard(ctx, pool, gr, a)
			found += n
			if err != nil {
				errs = append(errs, err)
			}
		}
		if next == "" || ctx.Err() != nil {
			return found, errors.Join(errs...)
		}
		params.Cursor = next
	}
}

// checkGuard is checkGuards for one leased account a.
func (d *Drift) checkGuard(ctx context.Context, pool string, gr ovm.Guardrailer, a *ovm.Account) (int, error) {
	e := d.e
	l, err := e.store.LeaseGet(ctx, a.LeaseID)
	if err != nil {
		return 0, fmt.Errorf("account %s: %w", a.ID, err)
	}
	g, _ := l.Terms.Guard()
	if !ovm.Guarded(a) {
		if err := e.guard(ctx, l); err != nil {
			return 0, fmt.Errorf("lease %s: %w", l.ID, err)
		}
		return 0, nil
	}
	problem, err := gr.GuardCheck(ctx, a, g)
	if err != nil {
		return 0, fmt.Errorf("account %s: %w", a.ID, err)
	}
	if problem == "" {
		return 0, nil
	}
	e.log.Warn("guardrails changed outside OVM; putting them back", ovm.LogPool, pool, ovm.LogAccountID, a.ID,
		ovm.LogLeaseID, l.ID, "problem", problem)
	if err := e.store.EventAppend(ctx, &ovm.Event{Time: e.clock.Now(), Kind: ovm.EventDrift, AccountID: a.ID, LeaseID: l.ID,
		Pool: pool, Actor: ovm.ActorDrift, From: "aws", To: "store", Reason: "guardrails of template " + g.Template + ": " + problem + "; put back"}); err != nil {
		return 1, err
	}
	if err := gr.Guard(ctx, a, g); err != nil {
		return 1, fmt.Errorf("put back the guardrails of account %s: %w", a.ID, err)
	}
	return 1, nil
}

// guardsInUse returns the guardrail versions whose policies must stay,
// across every pool (pools of one organization share a template's
// policy): each template's current version (a vend may be about to put it
// on), the terms of every lease not ended, and what every account's lease
// wants until its unguard step has run. A lease or account written during
// the read wants a template's current version or attaches its policy,
// which AWS then refuses to delete; a vend of another replica running an
// older configuration is covered by the provider's grace period.
func (d *Drift) guardsInUse(ctx context.Context) ([]ovm.Guard, error) {
	e := d.e
	keep := []ovm.Guard{}
	for _, t := range e.Templates() {
		if t.GuardrailDocument != "" {
			keep = append(keep, ovm.Guard{Template: t.Name, Version: t.GuardrailVersion})
		}
	}
	for _, state := range []ovm.LeaseState{ovm.LeaseActive, ovm.LeaseFrozen} {
		params := &ovm.LeaseListParams{State: state, PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}}
		for {
			page, next, err := e.store.LeaseList(ctx, params)
			if err != nil {
				return nil, err
			}
			for _, l := range page {
				if g, ok := l.Terms.Guard(); ok {
					keep = append(keep, g)
				}
			}
			if next == "" {
				break
			}
			params.Cursor = next
		}
	}
	for name := range e.pools {
		params := &ovm.AccountListParams{Pool: name, PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}}
		for {
			page, next, err := e.store.AccountList(ctx, params)
			if err != nil {
				return nil, err
			}
			for _, a := range page {
				if g, ok := ovm.GuardOf(a); ok {
					keep = append(keep, g)
				}
			}
			if next == "" {
				break
			}
			params.Cursor = next
		}
	}
	return keep, nil
}

// collectGuards has pool's provider delete the guardrail policies no lease
// uses any more, and records each deletion in the pool's events.
func (d *Drift) collectGuards(ctx context.Context, pool string, gc ovm.GuardrailCollector, keep []ovm.Guard) error {
	e := d.e
	res, err := gc.CollectGuardrails(ctx, keep)
	for _, name := range res.Unused {
		e.log.Debug("guardrail policy unused; deleted after the grace period if it stays so", ovm.LogPool, pool, ovm.LogPolicy, name)
	}
	for _, name := range res.Deleted {
		if aerr := e.store.EventAppend(ctx, &ovm.Event{Time: e.clock.Now(), Kind: ovm.EventGuardrail, Pool: pool, Actor: ovm.ActorDrift,
			From: name, To: "deleted", Reason: "guardrail policy no lease used for the grace period"}); aerr != nil {
			return errors.Join(err, aerr)
		}
	}
	if len(res.Deleted) > 0 {
		e.log.Info("guardrail policies no lease uses deleted", ovm.LogPool, pool, ovm.LogCount, len(res.Deleted))
	}
	return err
}
