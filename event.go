package ovm

import "time"

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
	// EventMiss records a vend the stock could not serve: demand that left
	// no lease (stock.target: auto learns from leases and misses).
	EventMiss EventKind = "miss"
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
	Actor     string    `json:"actor"` // "engine", "key:<name>", ...
	From      string    `json:"from"`
	To        string    `json:"to"`
	Reason    string    `json:"reason,omitempty"`
}

// Actors that are not API keys.
const (
	ActorEngine  = "engine"
	ActorPlanner = "planner"
	ActorExpirer = "expirer"
	ActorDrift   = "drift"
)

// KeyActor is the actor string of a change made through API key name.
func KeyActor(name string) string { return "key:" + name }
