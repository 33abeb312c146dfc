package ovm

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// LeaseState is where a lease stands.
type LeaseState string

const (
	// LeaseActive: the lessee holds the account until ExpiresAt. The lease
	// expirer, a release or a revoke ends it.
	LeaseActive LeaseState = "active"
	// LeaseEnded: terminal; EndReason says why.
	LeaseEnded LeaseState = "ended"
	// LeaseFrozen: the lessee still holds the account, which gives no
	// access until an admin unfreezes the lease (a budget's freeze, or an
	// admin's). It is stored as an active lease with a freeze record
	// (Lease.Frozen), so that every count and index of held leases (owner
	// and team limits, the expirer, the spend worker) keeps it
	// (docs/adr/0010-frozen-is-an-active-lease.md); Status and the API
	// show it as frozen.
	LeaseFrozen LeaseState = "frozen"
)

// LeaseEndReason says why a lease ended.
type LeaseEndReason string

const (
	LeaseExpired       LeaseEndReason = "expired"        // ExpiresAt passed
	LeaseReleased      LeaseEndReason = "released"       // the owner released it early
	LeaseRevoked       LeaseEndReason = "revoked"        // an admin ended it
	LeaseAccountFailed LeaseEndReason = "account_failed" // the account could not be kept
	// LeaseRefused: the vend was undone before anyone got access (IAM
	// refused the lease's principal); the account went back to stock.
	LeaseRefused LeaseEndReason = "refused"
	// LeaseBudgetEnded: a budget threshold ended it (ActOnBudget).
	LeaseBudgetEnded LeaseEndReason = "budget"
)

// Lease is one lessee's hold on one account.
type Lease struct {
	ID string `json:"id"`
	// AccountID is OVM's account id; AWSAccountID and RoleARN are what the
	// lessee uses.
	AccountID    string            `json:"account_id"`
	AWSAccountID string            `json:"aws_account_id"`
	RoleARN      string            `json:"role_arn"`
	Pool         string            `json:"pool"`
	Owner        string            `json:"owner"`
	Labels       map[string]string `json:"labels,omitempty"`
	// Principal is the lease's own principal (an IAM role or user ARN),
	// trusted by the account's vended role for the lease's life only.
	Principal string         `json:"principal,omitempty"`
	State     LeaseState     `json:"state"`
	EndReason LeaseEndReason `json:"end_reason,omitempty"`
	// AccessAt is when the lease first gave access: credentials, a console
	// sign-in (MarkLeaseAccess, before the session is made) or a trusted
	// principal. A lease that never gave access can be undone without
	// cleaning its account (RefuseLease).
	AccessAt time.Time `json:"access_at,omitzero"`
	// Template is the template the lease was made under ("" before
	// templates); Terms a copy of its terms then, which a later change of
	// the configuration does not alter. Team is the team it counts for.
	Template string      `json:"template,omitempty"`
	Team     string      `json:"team,omitempty"`
	Terms    *LeaseTerms `json:"terms,omitempty"`
	// Budget is the lease's budget (nil: none), with the thresholds it
	// acted on; Frozen is set while the lease is frozen.
	Budget    *LeaseBudget `json:"budget,omitempty"`
	Frozen    *LeaseFreeze `json:"frozen,omitempty"`
	Version   int64        `json:"version"`
	CreatedAt time.Time    `json:"created_at"`
	ExpiresAt time.Time    `json:"expires_at"`
	EndedAt   time.Time    `json:"ended_at"`
}

// Clone returns a deep copy of l.
func (l *Lease) Clone() *Lease {
	c := *l
	c.Labels = maps.Clone(l.Labels)
	c.Terms = l.Terms.Clone()
	c.Budget = l.Budget.Clone()
	if l.Frozen != nil {
		f := *l.Frozen
		c.Frozen = &f
	}
	return &c
}

// Status is l's state as people see it: frozen for an active lease with a
// freeze record, else its stored state.
func (l *Lease) Status() LeaseState {
	if l.State == LeaseActive && l.Frozen != nil {
		return LeaseFrozen
	}
	return l.State
}

// Over reports whether l gives nothing any more at now: it has ended, or
// its time is up even if the expirer has not ended it yet. An over lease is
// over for every route: it is not extended, issues no credentials and a
// release ends it as expired.
func (l *Lease) Over(now time.Time) bool {
	return l.State != LeaseActive || !now.Before(l.ExpiresAt)
}

// leaseEdges is the table of legal lease transitions (from -> to), of the
// states people see (Status). An extension is a same-state update, legal
// for an active lease only.
var leaseEdges = map[LeaseState][]LeaseState{
	LeaseActive: {LeaseEnded, LeaseFrozen},
	LeaseFrozen: {LeaseActive, LeaseEnded},
}

// LeaseStates lists every lease state people see.
var LeaseStates = []LeaseState{LeaseActive, LeaseFrozen, LeaseEnded}

// CanTransitionLease reports whether a lease may go from one state to
// another (from == to: an update that keeps the state, legal while active).
func CanTransitionLease(from, to LeaseState) bool {
	if from == to {
		return from == LeaseActive
	}
	return slices.Contains(leaseEdges[from], to)
}

// LeaseUpdate is a validated compare-and-set on a lease, built by a lease
// transition constructor (ExtendLease, EndLease, RefuseLease). A store
// applies it only if the stored lease's state and version are ExpectState
// and ExpectVersion and its expiry meets LiveAt and ExpiredAt; Account, when
// set, is applied in the same write under its own compare-and-set, and Event
// (and Account.Event) are appended with it. Otherwise the store returns
// ErrConflict (ErrNotFound if there is no such lease) and changes nothing.
type LeaseUpdate struct {
	ExpectState   LeaseState
	ExpectVersion int64
	// LiveAt, when set, requires the stored lease's ExpiresAt to be after
	// it: a lease whose time is up is not extended nor ended early, even
	// before the expirer ran. The version already pins the expiry read by
	// the constructor; stores check it as well, so the rule does not rest
	// on the caller alone.
	LiveAt time.Time
	// ExpiredAt, when set, requires the stored ExpiresAt to be at or
	// before it: an expirer does not end a lease extended since it listed
	// it.
	ExpiredAt time.Time
	// Lease is the new record; its Version is ExpectVersion+1.
	Lease *Lease
	Event *Event
	// Also is a second event of the same write (a budget's act beside the
	// end it causes), nil for none.
	Also *Event
	// Account moves the lease's account in the same write, when the lease
	// ends (nil for an extension).
	Account *AccountUpdate
}

// leaseTransition builds the update moving l to state to after mutate
// changed the copy.
func leaseTransition(l *Lease, to LeaseState, actor, reason string, now time.Time, mutate func(*Lease)) (*LeaseUpdate, error) {
	if !CanTransitionLease(l.State, to) { // the stored states: a freeze is an update of an active lease
		if l.State == LeaseEnded {
			return nil, Errorf(EConflict, "lease %s has ended (%s)", l.ID, l.EndReason)
		}
		return nil, Errorf(EConflict, "lease %s cannot go from %s to %s", l.ID, l.State, to)
	}
	n := l.Clone()
	n.State = to
	n.Version = l.Version + 1
	if mutate != nil {
		mutate(n)
	}
	return &LeaseUpdate{ExpectState: l.State, ExpectVersion: l.Version, Lease: n,
		Event: &Event{Time: now, Kind: EventLease, AccountID: l.AccountID, LeaseID: l.ID, Pool: l.Pool,
			Actor: actor, From: string(l.Status()), To: string(to), Reason: reason}}, nil
}

// ExtendLease: active -> active with expiry expiresAt, which must be in the
// future and within lp (no later than l.CreatedAt+lp.MaxTTL). A lease whose
// time is up is not brought back.
func ExtendLease(l *Lease, lp LeasePolicy, expiresAt time.Time, actor string, now time.Time) (*LeaseUpdate, error) {
	limit := l.CreatedAt.Add(lp.MaxTTL)
	switch {
	case l.State != LeaseActive:
		return nil, Errorf(EConflict, "lease %s has ended (%s)", l.ID, l.EndReason)
	case l.Frozen != nil:
		return nil, Errorf(EFrozen, "lease %s is frozen: it is not extended until an admin unfreezes it (POST /v1/leases/%s/unfreeze)", l.ID, l.ID)
	case !now.Before(l.ExpiresAt):
		return nil, Errorf(EConflict, "lease %s expired at %s: it cannot be extended any more",
			l.ID, l.ExpiresAt.UTC().Format(time.RFC3339))
	case !expiresAt.After(now):
		return nil, Errorf(EInvalid, "expires_at %s is not in the future", expiresAt.UTC().Format(time.RFC3339))
	case expiresAt.After(limit):
		return nil, Errorf(EInvalid, "expires_at %s is beyond the pool's max_ttl %s (latest %s)",
			expiresAt.UTC().Format(time.RFC3339), lp.MaxTTL, limit.UTC().Format(time.RFC3339))
	}
	reason := fmt.Sprintf("extended from %s to %s", l.ExpiresAt.UTC().Format(time.RFC3339), expiresAt.UTC().Format(time.RFC3339))
	u, err := leaseTransition(l, LeaseActive, actor, reason, now, func(n *Lease) { n.ExpiresAt = expiresAt })
	if err != nil {
		return nil, err
	}
	u.LiveAt = now
	return u, nil
}

// EndLease: active -> ended with reason, and lease l's account a moves on
// per rp (EndAccountLease) in the same write. An expiry ends a lease only
// once its time is up; a release or revocation of a lease whose time is up
// ends it as expired (it was over already; the expirer had not run yet).
func EndLease(l *Lease, a *Account, reason LeaseEndReason, rp RetirePolicy, actor string, now time.Time) (*LeaseUpdate, error) {
	if l.State != LeaseActive {
		return nil, Errorf(EConflict, "lease %s has ended already (%s)", l.ID, l.EndReason)
	}
	timeUp := !now.Before(l.ExpiresAt)
	switch reason {
	case LeaseExpired:
		if !timeUp {
			return nil, Errorf(EConflict, "lease %s expires at %s, not before", l.ID, l.ExpiresAt.UTC().Format(time.RFC3339))
		}
	case LeaseReleased, LeaseRevoked:
		if timeUp {
			reason = LeaseExpired
		}
	case LeaseAccountFailed, LeaseBudgetEnded:
	default:
		return nil, Errorf(EInvalid, "%q is not a reason to end a lease", reason)
	}
	u, err := leaseTransition(l, LeaseEnded, actor, string(reason), now, func(n *Lease) {
		n.EndReason, n.EndedAt = reason, now
	})
	if err != nil {
		return nil, err
	}
	switch {
	case reason == LeaseExpired:
		u.ExpiredAt = now
	case reason != LeaseAccountFailed:
		u.LiveAt = now
	}
	if u.Account, err = EndAccountLease(a, u.Lease, rp, actor, now); err != nil {
		return nil, err
	}
	return u, nil
}

// MarkLeaseAccess: active -> active, recording that the lease is about to
// give access for the first time (what: credentials, a console sign-in).
// It is written before any session is made, so a lease that was never
// marked never gave access.
func MarkLeaseAccess(l *Lease, what, actor string, now time.Time) (*LeaseUpdate, error) {
	if l.Over(now) {
		return nil, Errorf(EConflict, "lease %s is over (%s, expiry %s): it gives no access any more", l.ID,
			l.State, l.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if l.Frozen != nil {
		return nil, ErrFrozen(l)
	}
	u, err := leaseTransition(l, LeaseActive, actor, "first access: "+what, now, func(n *Lease) { n.AccessAt = now })
	if err != nil {
		return nil, err
	}
	u.LiveAt = now
	return u, nil
}

// RefuseLease: active -> ended (refused), and its account a goes back to
// ready: the lease was refused before it gave any access (IAM refused its
// principal while the vend was being answered), so the account is as fresh
// as before the vend and nothing needs revoking. A lease that gave access
// (AccessAt set) cannot be refused: it ends, and its account is retired.
func RefuseLease(l *Lease, a *Account, why string, now time.Time) (*LeaseUpdate, error) {
	if l.State != LeaseActive {
		return nil, Errorf(EConflict, "lease %s has ended already (%s)", l.ID, l.EndReason)
	}
	if !l.AccessAt.IsZero() {
		return nil, Errorf(EConflict, "lease %s gave access at %s: its account must be retired, not put back in stock",
			l.ID, l.AccessAt.UTC().Format(time.RFC3339))
	}
	u, err := leaseTransition(l, LeaseEnded, ActorEngine, string(LeaseRefused)+": "+why, now, func(n *Lease) {
		n.EndReason, n.EndedAt = LeaseRefused, now
	})
	if err != nil {
		return nil, err
	}
	if u.Account, err = ReturnAccount(a, u.Lease, now); err != nil {
		return nil, err
	}
	return u, nil
}
