package ovm

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// accountEdges is the table of legal account transitions (from -> to).
// Same-state updates (claims, retry bookkeeping, progress) are always legal
// for non-terminal states and are not listed.
var accountEdges = map[AccountState][]AccountState{
	AccountPending:       {AccountCreating, AccountAbandoned, AccountQuarantined},
	AccountCreating:      {AccountBootstrapping, AccountAbandoned, AccountQuarantined},
	AccountBootstrapping: {AccountReady, AccountQuarantined},
	AccountReady:         {AccountLeased, AccountClosing},
	AccountLeased:        {AccountReady, AccountCleaning, AccountClosing},
	AccountCleaning:      {AccountReady, AccountClosing, AccountQuarantined},
	AccountClosing:       {AccountClosed, AccountQuarantined},
	AccountQuarantined: {AccountPending, AccountCreating, AccountBootstrapping, AccountCleaning,
		AccountClosing, AccountAbandoned},
}

// CanTransition reports whether an account may go from one state to another.
func CanTransition(from, to AccountState) bool {
	if from == to {
		return from.Valid() && !from.Terminal()
	}
	return slices.Contains(accountEdges[from], to)
}

// AccountUpdate is a validated compare-and-set: a store replaces the record
// with Account only if the stored state and version are ExpectState and
// ExpectVersion, and appends Event (when set) in the same transaction.
// Otherwise it returns ErrConflict and changes nothing.
type AccountUpdate struct {
	ExpectState   AccountState
	ExpectVersion int64
	// Account is the new record; its Version is ExpectVersion+1.
	Account *Account
	Event   *Event
}

// transition builds the update moving a to state to, after mutate changed
// the copy. Retry state and claims are reset on a state change.
func transition(a *Account, to AccountState, actor, reason string, now time.Time, mutate func(*Account)) (*AccountUpdate, error) {
	if !CanTransition(a.State, to) {
		return nil, Errorf(EConflict, "account %s cannot go from %s to %s", a.ID, a.State, to)
	}
	n := a.Clone()
	n.Version = a.Version + 1
	n.UpdatedAt = now
	if to != a.State {
		n.State = to
		n.StateChangedAt = now
		n.Attempts = 0
		n.LastError = ""
		n.Waiting = ""
		n.NextAttemptAt = now
		n.ClaimedBy = ""
		n.ClaimedUntil = time.Time{}
		if to != AccountQuarantined {
			n.QuarantinedFrom = ""
		}
	}
	if mutate != nil {
		mutate(n)
	}
	u := &AccountUpdate{ExpectState: a.State, ExpectVersion: a.Version, Account: n}
	if to != a.State || reason != "" {
		leaseID := n.LeaseID
		if leaseID == "" {
			leaseID = a.LeaseID // the event of a lease ending names the lease
		}
		u.Event = &Event{Time: now, Kind: EventAccount, AccountID: a.ID, LeaseID: leaseID, Pool: a.Pool,
			Actor: actor, From: string(a.State), To: string(to), Reason: reason}
	}
	return u, nil
}

// transitionFrom is transition for a constructor that only applies in state
// from: a forward step must not be replayed on an account already past it.
func transitionFrom(a *Account, from, to AccountState, actor, reason string, now time.Time, mutate func(*Account)) (*AccountUpdate, error) {
	if a.State != from {
		return nil, Errorf(EConflict, "account %s is %s, not %s", a.ID, a.State, from)
	}
	return transition(a, to, actor, reason, now, mutate)
}

// NewPendingAccount is a fresh reservation by the stock planner. The provider
// derives name and e-mail from the id before any AWS call.
func NewPendingAccount(id, pool, name, email string, now time.Time) *Account {
	return &Account{ID: id, Pool: pool, State: AccountPending, Version: 1, Name: name, Email: email,
		NextAttemptAt: now, CreatedAt: now, UpdatedAt: now, StateChangedAt: now}
}

// StartCreating: pending -> creating, the provider accepted the create
// request and returned its reference.
func StartCreating(a *Account, ref string, now time.Time) (*AccountUpdate, error) {
	return transitionFrom(a, AccountPending, AccountCreating, ActorEngine, "create started", now, func(n *Account) {
		n.ExternalRef = ref
	})
}

// FinishCreating: creating -> bootstrapping, the AWS account exists.
func FinishCreating(a *Account, awsID string, now time.Time) (*AccountUpdate, error) {
	if !IsAWSAccountID(awsID) {
		return nil, Errorf(EInvalid, "account %s: provider returned invalid aws account id %q", a.ID, awsID)
	}
	return transitionFrom(a, AccountCreating, AccountBootstrapping, ActorEngine, "aws account "+awsID+" created", now, func(n *Account) {
		n.AWSAccountID = awsID
	})
}

// FinishBootstrap: bootstrapping -> ready, the smoke test passed.
func FinishBootstrap(a *Account, roleARN string, now time.Time) (*AccountUpdate, error) {
	if roleARN == "" {
		return nil, Errorf(EInvalid, "account %s: provider returned no role", a.ID)
	}
	return transitionFrom(a, AccountBootstrapping, AccountReady, ActorEngine, "bootstrapped", now, func(n *Account) {
		n.RoleARN = roleARN
	})
}

// FinishCleaning: cleaning -> ready, one more generation. An account whose
// last lease's access is not revoked yet is never ready, nor one whose
// revocation's clock margin has not passed (VendableAt).
func FinishCleaning(a *Account, now time.Time) (*AccountUpdate, error) {
	if r, pending := PendingRevocation(a); pending {
		return nil, Errorf(EConflict, "account %s: the access of lease %s is not revoked yet", a.ID, r.LeaseID)
	}
	if g, guarded := GuardOf(a); guarded {
		return nil, Errorf(EConflict, "account %s: the guardrails of template %s are not taken off yet", a.ID, g.Template)
	}
	if at := VendableAt(a); now.Before(at) {
		return nil, Errorf(EConflict, "account %s may not be vended before %s, its revocation's clock margin",
			a.ID, at.UTC().Format(time.RFC3339))
	}
	return transitionFrom(a, AccountCleaning, AccountReady, ActorEngine, "cleaned", now, func(n *Account) {
		n.Generation++
	})
}

// ObserveClosed: closing -> closed, AWS reports the account closed.
func ObserveClosed(a *Account, now time.Time) (*AccountUpdate, error) {
	return transitionFrom(a, AccountClosing, AccountClosed, ActorEngine, "closure observed", now, nil)
}

// AbandonAccount: pending|creating -> abandoned, creation failed for good
// and no AWS account exists.
func AbandonAccount(a *Account, reason string, now time.Time) (*AccountUpdate, error) {
	if a.State != AccountPending && a.State != AccountCreating {
		return nil, Errorf(EConflict, "account %s cannot be abandoned from %s", a.ID, a.State)
	}
	return transition(a, AccountAbandoned, ActorEngine, reason, now, func(n *Account) { n.LastError = reason })
}

// QuarantineAccount: a working state -> quarantined, automation gave up.
// lastErr is kept for the operator.
func QuarantineAccount(a *Account, actor, lastErr string, now time.Time) (*AccountUpdate, error) {
	if !a.State.Working() {
		return nil, Errorf(EConflict, "account %s cannot be quarantined from %s", a.ID, a.State)
	}
	attempts := a.Attempts
	return transition(a, AccountQuarantined, actor, lastErr, now, func(n *Account) {
		n.QuarantinedFrom = a.State
		n.LastError = lastErr
		n.Attempts = attempts
	})
}

// RetryAccount: quarantined -> the state it failed in, attempts reset.
func RetryAccount(a *Account, actor string, now time.Time) (*AccountUpdate, error) {
	if a.State != AccountQuarantined {
		return nil, Errorf(EConflict, "account %s is %s, not quarantined", a.ID, a.State)
	}
	return transition(a, a.QuarantinedFrom, actor, "operator retry", now, nil)
}

// RetireAccount: quarantined|ready -> closing by an operator, or
// quarantined -> abandoned when no AWS account was ever started.
func RetireAccount(a *Account, actor string, now time.Time) (*AccountUpdate, error) {
	if a.State != AccountQuarantined && a.State != AccountReady {
		return nil, Errorf(EConflict, "account %s is %s; only ready or quarantined accounts can be retired", a.ID, a.State)
	}
	if a.State == AccountQuarantined && a.AWSAccountID == "" && a.ExternalRef == "" && a.QuarantinedFrom == AccountPending {
		return transition(a, AccountAbandoned, actor, "operator retire: no aws account was started", now, nil)
	}
	return transition(a, AccountClosing, actor, "operator retire", now, nil)
}

// LeaseAccount: ready -> leased by lease l.
func LeaseAccount(a *Account, l *Lease, now time.Time) (*AccountUpdate, error) {
	if a.State != AccountReady {
		return nil, Errorf(EConflict, "account %s is %s, not ready", a.ID, a.State)
	}
	return transition(a, AccountLeased, OwnerActor(l.Owner), "lease "+l.ID, now, func(n *Account) {
		n.LeaseID = l.ID
		markGuard(n, l) // the guardrails it wants, in the vend's own write
	})
}

// EndAccountLease: leased -> cleaning or closing (per rp) as lease l ends.
// The lease's access is revoked first: the update marks the revocation
// (PendingRevocation) in the same write.
func EndAccountLease(a *Account, l *Lease, rp RetirePolicy, actor string, now time.Time) (*AccountUpdate, error) {
	if a.State != AccountLeased || a.LeaseID != l.ID {
		return nil, Errorf(EConflict, "account %s is %s with lease %q, not leased by %s", a.ID, a.State, a.LeaseID, l.ID)
	}
	reason := fmt.Sprintf("lease %s %s", l.ID, l.EndReason)
	return transition(a, rp.RetireTarget(a), actor, reason, now, func(n *Account) {
		n.LeaseID = ""
		markRevocation(n, l, rp.ClockMargin)
	})
}

// ReturnAccount: leased -> ready, as lease l is refused before it gave any
// access (RefuseLease; l.AccessAt is zero): no session was issued and no
// principal trusted, so nothing is revoked and the account is stock again,
// generation unchanged. It is the only way from leased back to stock
// without cleaning.
func ReturnAccount(a *Account, l *Lease, now time.Time) (*AccountUpdate, error) {
	if a.State != AccountLeased || a.LeaseID != l.ID {
		return nil, Errorf(EConflict, "account %s is %s with lease %q, not leased by %s", a.ID, a.State, a.LeaseID, l.ID)
	}
	if !l.AccessAt.IsZero() {
		return nil, Errorf(EConflict, "account %s: lease %s gave access; the account must be cleaned or closed", a.ID, l.ID)
	}
	if _, guarded := GuardOf(a); guarded {
		// Its guardrails may be attached (an answer lost is not a no):
		// they come off on the way out, never into stock.
		return nil, Errorf(EConflict, "account %s: lease %s's guardrails must be taken off; the account must be cleaned or closed", a.ID, l.ID)
	}
	return transition(a, AccountReady, ActorEngine, fmt.Sprintf("lease %s refused: back in stock", l.ID), now, func(n *Account) {
		n.LeaseID = ""
	})
}

// ClaimAccount marks a's next step as taken by worker until until.
func ClaimAccount(a *Account, worker string, now, until time.Time) (*AccountUpdate, error) {
	return transition(a, a.State, worker, "", now, func(n *Account) {
		n.ClaimedBy = worker
		n.ClaimedUntil = until
	})
}

// RecordStepWaiting records a step that is under way: the account stays in
// its state and is due again after wait. waiting says what it waits for.
func RecordStepWaiting(a *Account, wait time.Duration, waiting string, progress map[string]string, now time.Time) (*AccountUpdate, error) {
	return transition(a, a.State, ActorEngine, "", now, func(n *Account) {
		n.ClaimedBy, n.ClaimedUntil = "", time.Time{}
		n.NextAttemptAt = now.Add(wait)
		n.Waiting = waiting
		mergeProgress(n, progress)
	})
}

// RecordStepFailure records a transient failure of a's current step. It
// schedules the next attempt by policy p, or quarantines the account once
// p.MaxAttempts attempts failed.
func RecordStepFailure(a *Account, p RetryPolicy, stepErr string, now time.Time) (*AccountUpdate, error) {
	if a.Attempts+1 >= p.MaxAttempts {
		b := a.Clone()
		b.Attempts++
		n := fmt.Sprintf("%d attempts", b.Attempts)
		if b.Attempts == 1 {
			n = "1 attempt"
		}
		return QuarantineAccount(b, ActorEngine, n+" failed, last: "+stepErr, now)
	}
	reason := fmt.Sprintf("attempt %d failed: %s", a.Attempts+1, stepErr)
	return transition(a, a.State, ActorEngine, reason, now, func(n *Account) {
		n.ClaimedBy, n.ClaimedUntil = "", time.Time{}
		n.Attempts++
		n.LastError = stepErr
		n.NextAttemptAt = NextAttempt(n, p, now)
	})
}

func mergeProgress(n *Account, progress map[string]string) {
	if len(progress) == 0 {
		return
	}
	if n.Progress == nil {
		n.Progress = map[string]string{}
	}
	for k, v := range progress {
		n.Progress[k] = v
	}
}

// MergeProgress returns the update's account with provider progress merged
// in; used when a step finishes and moves state in the same write.
func MergeProgress(u *AccountUpdate, progress map[string]string) { mergeProgress(u.Account, progress) }

// RecordInput stores an outside value a step waits for (a human's captcha
// answer, a relayed 3-D Secure code) on a working account, as
// Progress["input.<name>"]. The event names the input, never its value.
func RecordInput(a *Account, name, value, actor string, now time.Time) (*AccountUpdate, error) {
	if !a.State.Working() {
		return nil, Errorf(EConflict, "account %s is %s: it waits for no input", a.ID, a.State)
	}
	if !inputNameRe.MatchString(name) || value == "" || len(value) > 256 {
		return nil, Errorf(EInvalid, "input needs a name (letters, digits, _) and a value of at most 256 characters")
	}
	return transition(a, a.State, actor, "input "+name+" received", now, func(n *Account) {
		mergeProgress(n, map[string]string{"input." + name: value})
		n.NextAttemptAt = now // the waiting step can go on at once
	})
}

var inputNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
