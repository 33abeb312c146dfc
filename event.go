package ovm

import (
	"strings"
	"time"
)

// EventKind names the kind of record an event is about.
type EventKind string

const (
	// EventAccount is a change of an account (a transition, a retry).
	EventAccount EventKind = "account"
	// EventLease is a change of a lease (vended, extended, ended).
	EventLease EventKind = "lease"
	// EventKey is a change of an API key (created, revoked).
	EventKey EventKind = "key"
	// EventDrift reports a difference between AWS and the store.
	EventDrift EventKind = "drift"
	// EventMiss recorded a vend the stock could not serve. Misses are
	// counted now (Store.MissAdd); events of this kind are only in stores
	// that an older OVM wrote, until their migration.
	EventMiss EventKind = "miss"
	// EventStock records a pool's ready stock entering a level: From and
	// To are "ok", "pool.low" or "pool.empty". It is the durable record of
	// what the stock alerts reported, so that a new leader derives a fall
	// the previous one saw but could not report.
	EventStock EventKind = "stock"
	// EventAccess is an issue of access by a lease: credentials or a
	// console sign-in (who, when, which session, until when; never the
	// secret).
	EventAccess EventKind = "access"
	// EventBudget is a budget threshold's act on a lease (ActOnBudget):
	// From and To are the lease's states around it (To frozen for a
	// freeze), Reason the threshold, spend and projection. Each is the
	// lease.budget notification.
	EventBudget EventKind = "budget"
	// EventGuardrail records the deletion of a guardrail policy OVM made
	// and no lease uses any more (GuardrailCollector): a pool's event,
	// From the policy's name, To "deleted".
	EventGuardrail EventKind = "guardrail"
)

// Event is one entry of the append-only log: who changed what, when, from
// which state to which, and why. Stores append it in the same transaction as
// the change it records.
type Event struct {
	Seq       int64     `json:"seq"` // assigned by the store, increasing
	Time      time.Time `json:"time"`
	Kind      EventKind `json:"kind"`
	AccountID string    `json:"account_id,omitempty"` // OVM account id, if any
	LeaseID   string    `json:"lease_id,omitempty"`
	KeyID     string    `json:"key_id,omitempty"`
	Pool      string    `json:"pool,omitempty"`
	Actor     string    `json:"actor"` // "engine", "key:<name>", "oidc:<owner>", ...
	From      string    `json:"from"`
	To        string    `json:"to"`
	Reason    string    `json:"reason,omitempty"`
}

// Actors that are not callers of the API (KeyActor, TokenActor).
const (
	ActorEngine  = "engine"
	ActorPlanner = "planner"
	ActorExpirer = "expirer"
	ActorDrift   = "drift"
	ActorBudget  = "budget"
)

// KeyActor is the actor string of a change made with the API key named
// name: "key:<name>".
func KeyActor(name string) string { return "key:" + name }

// TokenActor is the actor string of a change made with an OIDC ID token
// whose owner is owner (owner_prefix and the owner claim, docs/oidc.md):
// "oidc:<owner>". Events stored before it was introduced name such an
// owner "key:<owner>"; they are read as they are.
func TokenActor(owner string) string { return "oidc:" + owner }

// OwnerActor is the actor string of a change made in the name of a lease
// owner: a token's owner always holds '/' or ':', which no API key's name
// does (NewAPIKey), so the owner tells which of TokenActor and KeyActor
// it is.
func OwnerActor(owner string) string {
	if strings.ContainsAny(owner, "/:") {
		return TokenActor(owner)
	}
	return KeyActor(owner)
}
