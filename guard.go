package ovm

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A lease whose terms carry guardrails has them put on its account before
// it gives any access, and taken off after its access is revoked, before
// the account is cleaned or closed. The account's progress says which
// guardrails its lease wants (set by the vend itself, LeaseAccount) and
// whether they are in place (RecordGuarded); the runner's unguard step
// follows the revocation (FinishUnguard).
const (
	// ProgressGuardTemplate and ProgressGuardVersion name the guardrails
	// the account's lease wants (its template and document version);
	// ProgressGuardPolicies the organization's own policies among them.
	ProgressGuardTemplate = "access.guard_template"
	ProgressGuardVersion  = "access.guard_version"
	ProgressGuardPolicies = "access.guard_policies"
	// ProgressGuarded holds the version in place once Guard succeeded.
	ProgressGuarded = "access.guarded"
)

// noDocument is the version of guardrails that are only the
// organization's own policies (OVM writes no document for them).
const noDocument = "ids"

// Guard is what a Guardrailer puts on an account: OVM's policy document
// for a template's guardrails at a version, and the organization's own
// policies by id.
type Guard struct {
	Template string
	Version  string
	// Document is OVM's policy (empty when the guardrails are only the
	// organization's policies, or when taking them off: the name is enough).
	Document  string
	PolicyIDs []string
}

// Guard returns the guardrails lt asks for, and whether it asks for any.
func (lt *LeaseTerms) Guard() (Guard, bool) {
	if lt == nil {
		return Guard{}, false
	}
	ids := lt.Guardrails.PolicyIDs()
	if lt.GuardrailDocument == "" && len(ids) == 0 {
		return Guard{}, false
	}
	v := lt.GuardrailVersion
	if lt.GuardrailDocument == "" {
		v = noDocument
	}
	return Guard{Template: lt.Template, Version: v, Document: lt.GuardrailDocument, PolicyIDs: ids}, true
}

// GuardOf returns the guardrails account a's lease wants (without the
// document), and whether it wants any.
func GuardOf(a *Account) (Guard, bool) {
	v := a.Progress[ProgressGuardVersion]
	if v == "" {
		return Guard{}, false
	}
	g := Guard{Template: a.Progress[ProgressGuardTemplate], Version: v}
	if ids := a.Progress[ProgressGuardPolicies]; ids != "" {
		g.PolicyIDs = strings.Split(ids, ",")
	}
	return g, true
}

// Guarded reports whether account a has the guardrails its lease wants in
// place (true when it wants none).
func Guarded(a *Account) bool {
	v := a.Progress[ProgressGuardVersion]
	return v == "" || a.Progress[ProgressGuarded] == v
}

// markGuard records on n the guardrails lease l wants.
func markGuard(n *Account, l *Lease) {
	g, ok := l.Terms.Guard()
	if !ok {
		return
	}
	if n.Progress == nil {
		n.Progress = map[string]string{}
	}
	n.Progress[ProgressGuardTemplate] = g.Template
	n.Progress[ProgressGuardVersion] = g.Version
	n.Progress[ProgressGuardPolicies] = strings.Join(g.PolicyIDs, ",")
	delete(n.Progress, ProgressGuarded)
}

// RecordGuarded records that leased account a has its lease's guardrails
// in place: from now on the lease may give access.
func RecordGuarded(a *Account, actor string, now time.Time) (*AccountUpdate, error) {
	g, ok := GuardOf(a)
	switch {
	case a.State != AccountLeased:
		return nil, Errorf(EConflict, "account %s is %s: guardrails are put on a leased account", a.ID, a.State)
	case !ok:
		return nil, Errorf(EConflict, "account %s's lease wants no guardrails", a.ID)
	}
	return transition(a, a.State, actor, fmt.Sprintf("guardrails of template %s (version %s) in place", g.Template, g.Version), now,
		func(n *Account) { n.Progress[ProgressGuarded] = g.Version })
}

// Unguarding reports whether a's next step is taking its last lease's
// guardrails off, or lifting its freeze: after the revocation, before
// cleaning or closing.
func Unguarding(a *Account) bool {
	_, revoke := PendingRevocation(a)
	_, guard := GuardOf(a)
	return (guard || FrozenOn(a) != "") && !revoke && (a.State == AccountCleaning || a.State == AccountClosing)
}

// FinishUnguard records that a's last lease's guardrails (and freeze) are
// off: the account stays in its state and its next step is due at once.
func FinishUnguard(a *Account, report string, now time.Time) (*AccountUpdate, error) {
	if !Unguarding(a) {
		return nil, Errorf(EConflict, "account %s has no guardrails to take off now", a.ID)
	}
	var what []string
	if g, ok := GuardOf(a); ok {
		what = append(what, fmt.Sprintf("guardrails of template %s (version %s) taken off", g.Template, g.Version))
	}
	if id := FrozenOn(a); id != "" {
		what = append(what, "freeze of lease "+id+" lifted")
	}
	reason := strings.Join(what, "; ")
	if report != "" {
		reason += ": " + report
	}
	return transition(a, a.State, ActorEngine, reason, now, func(n *Account) {
		for _, k := range []string{ProgressGuardTemplate, ProgressGuardVersion, ProgressGuardPolicies, ProgressGuarded, ProgressFrozen, ProgressFrozenDone} {
			delete(n.Progress, k)
		}
		// The step is done: its claim too, or the next step would wait for
		// the claim to lapse (engine.claim_ttl).
		n.ClaimedBy, n.ClaimedUntil = "", time.Time{}
		n.NextAttemptAt = now
		n.Attempts, n.LastError, n.Waiting = 0, "", ""
	})
}

// Guardrailer is a provider that enforces a lease's guardrails on its
// account (package guardrail writes the document): on a member account,
// an SCP per template and version.
type Guardrailer interface {
	// Guard puts g on account a: OVM's policy for g's template and version
	// (created once, found by its name after a lost answer, corrected if
	// changed) and the organization's policies g names, attached. It is
	// idempotent.
	Guard(ctx context.Context, a *Account, g Guard) error
	// GuardCheck says what of g is not in place on a ("" when all is).
	GuardCheck(ctx context.Context, a *Account, g Guard) (string, error)
	// Unguard takes off a every policy Guard put on it for g (g's document
	// is empty here: the name is enough). It is idempotent.
	Unguard(ctx context.Context, a *Account, g Guard) (StepResult, error)
}

// GuardrailCollector is a Guardrailer that deletes the policies it made
// for guardrail versions no lease uses any more: an organization holds a
// limited number of policies, and every change of a template's guardrails
// makes a new version. The drift check calls it with the versions that
// must stay.
type GuardrailCollector interface {
	// CollectGuardrails deletes the provider's own guardrail policies of
	// its pool whose template and version keep does not name and that no
	// account has attached, once each has been seen so for a grace period
	// (another replica, configured otherwise, may be about to attach it).
	// A policy seen in use again starts its grace anew. Policies the
	// provider did not make are never touched.
	CollectGuardrails(ctx context.Context, keep []Guard) (GuardrailCollection, error)
}

// GuardrailCollection is what one CollectGuardrails did, by policy name.
type GuardrailCollection struct {
	// Unused are the policies first seen unused now: their grace starts.
	Unused []string
	// Deleted are the policies deleted now, their grace over.
	Deleted []string
}
