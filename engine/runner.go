package engine

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// Runner drives due accounts one step each.
type Runner struct {
	e    *Engine
	kick chan struct{}

	mu sync.Mutex
	// wake holds the times the steps this runner recorded are due again.
	wake dueTimes
}

// NextDue is the earliest time a step this runner recorded is due again
// (zero when none is known): the runner loop wakes then rather than at
// its next tick. Other replicas' work is found by the tick.
func (r *Runner) NextDue() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.wake) == 0 {
		return time.Time{}
	}
	return r.wake[0]
}

// due notes that an account is due again at t.
func (r *Runner) due(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	heap.Push(&r.wake, t)
}

// passed forgets the due times up to now: the run starting now takes them.
func (r *Runner) passed(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.wake) > 0 && !r.wake[0].After(now) {
		heap.Pop(&r.wake)
	}
}

// dueTimes is a min-heap of times.
type dueTimes []time.Time

func (h dueTimes) Len() int           { return len(h) }
func (h dueTimes) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h dueTimes) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueTimes) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *dueTimes) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// Kick asks the runner loop to run now instead of at its next tick.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// RunOnce claims up to BatchSize due accounts and drives each one step,
// Parallelism at a time, returning when all are recorded. It returns how
// many steps it ran.
func (r *Runner) RunOnce(ctx context.Context) (int, error) {
	e := r.e
	if rep, ok := e.store.(ovm.Repairer); ok {
		if n, err := rep.Repair(ctx); err != nil {
			e.log.Warn("store repair failed", ovm.LogError, err)
		} else if n > 0 {
			e.log.Info("store repaired writes a crash left pending", ovm.LogCount, n)
		}
	}
	now := e.clock.Now()
	r.passed(now) // this run takes what is due; its steps note what comes next
	due, err := e.store.AccountListDue(ctx, &ovm.AccountListDueParams{Now: now, Limit: e.cfg.BatchSize})
	if err != nil {
		return 0, err
	}
	var (
		wg   sync.WaitGroup
		sem  = make(chan struct{}, e.cfg.Parallelism)
		mu   sync.Mutex
		errs []error
		ran  int
	)
	for _, a := range due {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			did, err := r.step(ctx, a)
			mu.Lock()
			defer mu.Unlock()
			if did {
				ran++
			}
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return ran, errors.Join(errs...)
}

// step claims a, calls its provider once and records the outcome. A lost
// claim race is not an error: another worker has the account.
func (r *Runner) step(ctx context.Context, a *ovm.Account) (bool, error) {
	e := r.e
	log := e.log.With(ovm.LogAccountID, a.ID, ovm.LogPool, a.Pool, ovm.LogState, a.State)
	pool := e.pools[a.Pool]
	if pool == nil {
		log.Warn("account belongs to no configured pool; leaving it alone")
		return false, nil
	}
	now := e.clock.Now()
	claim, err := ovm.ClaimAccount(a, e.cfg.Instance, now, now.Add(e.cfg.ClaimTTL))
	if err != nil {
		return false, err
	}
	claimed, err := e.store.AccountUpdate(ctx, claim)
	if errors.Is(err, ovm.ErrConflict) {
		log.Debug("claim lost to another worker")
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", a.ID, err)
	}
	a = claimed
	e.crash("runner.after-claim")

	// The provider call outlives a shutdown request (Stop waits for it) but
	// not StepTimeout, nor the claim: it is renewed while the call runs, and
	// a claim this worker can no longer renew (the store out of reach) ends
	// the call before another replica may take the step over.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.StepTimeout)
	renewal := r.renew(callCtx, cancel, a)
	began := e.clock.Now()
	res, callErr := call(callCtx, pool.Provider, a, pool.Policy.Retire)
	a = renewal.stop()
	cancel()
	outcome := string(res.Status)
	if callErr != nil {
		outcome = "error"
	}
	e.cfg.Observer.Step(a.Pool, stepName(a), outcome, e.clock.Now().Sub(began))
	e.crash("runner.after-call")
	e.crash("runner.after-call:" + string(a.State))
	if revoking(a) {
		e.crash("runner.after-call:revoke") // revoked in AWS, not yet recorded
	}
	if ovm.Unguarding(a) {
		e.crash("runner.after-call:unguard") // taken off in AWS, not yet recorded
	}

	u, err := Decide(a, pool.Policy, res, callErr, e.clock.Now(), e.cfg.MinPoll, e.cfg.MaxPoll)
	if err != nil {
		// The provider returned something the domain refuses (e.g. a bad
		// account id): count it as a failed attempt rather than loop.
		u, err = ovm.RecordStepFailure(a, pool.Policy.Retry, err.Error(), e.clock.Now())
		if err != nil {
			return true, err
		}
	}
	stored, err := e.store.AccountUpdate(context.WithoutCancel(ctx), u)
	if err != nil {
		return true, fmt.Errorf("record step of %s: %w", a.ID, err)
	}
	logOutcome(log, a, stored, callErr)
	if stored.State == ovm.AccountReady && a.State != ovm.AccountReady {
		e.observed.readyAfter(a, stored.UpdatedAt)
		if a.State == ovm.AccountCleaning {
			e.cfg.Observer.Ready(a.Pool, true, stored.UpdatedAt.Sub(a.StateChangedAt))
		} else {
			e.cfg.Observer.Ready(a.Pool, false, stored.UpdatedAt.Sub(a.CreatedAt))
		}
		e.notifyReady(stored.Pool)
	}
	if stored.State != a.State {
		r.Kick()          // the next step may be due at once
		e.notifier.Kick() // a quarantine's notification goes out now
	}
	if at, ok := stored.DueAt(); ok {
		r.due(at)
	}
	if a.State == ovm.AccountPending || a.State == ovm.AccountCreating {
		if stored.State != ovm.AccountPending && stored.State != ovm.AccountCreating {
			e.planner.Kick() // a creation slot is free
		}
	}
	return true, nil
}

func logOutcome(log *slog.Logger, before, after *ovm.Account, callErr error) {
	switch {
	case after.State != before.State:
		level := slog.LevelInfo
		if after.State == ovm.AccountQuarantined {
			level = slog.LevelWarn
		}
		attrs := []any{ovm.LogFrom, before.State, ovm.LogTo, after.State}
		if after.AWSAccountID != "" {
			attrs = append(attrs, ovm.LogAWSAccountID, after.AWSAccountID)
		}
		if after.LastError != "" {
			attrs = append(attrs, ovm.LogError, after.LastError)
		}
		log.Log(context.Background(), level, "account moved", attrs...)
	case callErr != nil:
		log.Info("step failed, will retry", ovm.LogAttempt, after.Attempts, ovm.LogError, callErr,
			"next_attempt_at", after.NextAttemptAt)
	default:
		log.Debug("step pending", "waiting", after.Waiting, "next_attempt_at", after.NextAttemptAt)
	}
}

// revoking reports whether a's next step is the revocation of its last
// lease's access: it comes before cleaning or closing.
func revoking(a *ovm.Account) bool {
	_, pending := ovm.PendingRevocation(a)
	return pending && (a.State == ovm.AccountCleaning || a.State == ovm.AccountClosing)
}

// stepName names the provider step a is due for.
func stepName(a *ovm.Account) string {
	if revoking(a) {
		return "revoke"
	}
	if ovm.Unguarding(a) {
		return "unguard"
	}
	switch a.State {
	case ovm.AccountPending, ovm.AccountCreating:
		return "create"
	case ovm.AccountBootstrapping:
		return "bootstrap"
	case ovm.AccountCleaning:
		return "clean"
	case ovm.AccountClosing:
		return "close"
	}
	return string(a.State)
}

// unguard lifts the freeze of a's last lease (if in place), then takes
// its guardrails off (if any): both must be gone before a is cleaned or
// closed, and both calls converge when run again.
func unguard(ctx context.Context, p ovm.Provider, a *ovm.Account) (ovm.StepResult, error) {
	var reports []string
	if id := ovm.FrozenOn(a); id != "" {
		if fr, ok := p.(ovm.Freezer); ok {
			if err := fr.Unfreeze(ctx, a, ovm.Freeze{LeaseID: id}); err != nil {
				return ovm.StepResult{}, fmt.Errorf("lift the freeze of lease %s: %w", id, err)
			}
			reports = append(reports, "freeze lifted")
		}
	}
	if g, ok := ovm.GuardOf(a); ok {
		gr, ok := p.(ovm.Guardrailer)
		if !ok {
			return ovm.StepResult{Status: ovm.StepDone, Report: "the provider put no guardrails on"}, nil
		}
		res, err := gr.Unguard(ctx, a, g)
		if err != nil || res.Status != ovm.StepDone {
			return res, err
		}
		reports = append(reports, res.Report)
	}
	return ovm.StepResult{Status: ovm.StepDone, Report: strings.Join(reports, "; ")}, nil
}

// call runs the provider operation a is due for: the revocation of its last
// lease's access first, then the step of its state.
func call(ctx context.Context, p ovm.Provider, a *ovm.Account, retire ovm.RetirePolicy) (ovm.StepResult, error) {
	if revoking(a) {
		acc, ok := p.(ovm.Access)
		if !ok {
			return ovm.StepResult{Status: ovm.StepDone, Report: "the provider gave no access of its own to revoke"}, nil
		}
		rev, _ := ovm.PendingRevocation(a)
		return acc.Revoke(ctx, a, rev)
	}
	if ovm.Unguarding(a) {
		return unguard(ctx, p, a)
	}
	switch a.State {
	case ovm.AccountPending, ovm.AccountCreating:
		return p.Create(ctx, a)
	case ovm.AccountBootstrapping:
		return p.Bootstrap(ctx, a)
	case ovm.AccountCleaning:
		c, ok := p.(ovm.Cleaner)
		if !ok {
			return ovm.StepResult{}, errors.New("provider cannot clean accounts")
		}
		return c.Clean(ctx, a, retire)
	case ovm.AccountClosing:
		return p.Close(ctx, a)
	}
	return ovm.StepResult{}, fmt.Errorf("no step for state %s", a.State)
}
