package ovm

import (
	"context"
	"slices"
	"time"
)

// Sink sends notifications to one receiver (a webhook, an SNS topic, an
// EventBridge bus). A nil error means the receiver accepted n; any error is
// retried later with backoff. Send must honour ctx's deadline.
type Sink interface {
	Send(ctx context.Context, n *Notification) error
}

// DeliveryState is where an outbox entry (or one of its targets) stands.
type DeliveryState string

const (
	// DeliveryPending: not yet accepted by every target; the delivery
	// worker sends it when due (NextAttemptAt), on whichever replica claims
	// it first.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered: every target accepted it. Terminal unless an
	// operator sends it again.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed: a target refused it MaxAttempts times; the others
	// are done. An operator sends it again (RetryDelivery).
	DeliveryFailed DeliveryState = "failed"
)

// Valid reports whether s is a delivery state.
func (s DeliveryState) Valid() bool {
	return s == DeliveryPending || s == DeliveryDelivered || s == DeliveryFailed
}

// CursorDeliveries is DeliveryList's cursor kind.
const CursorDeliveries CursorKind = "deliveries"

// Delivery is one outbox entry: a notification and how far its sending
// got. It is written by the store with the change it reports (or by the
// engine, for notifications derived from durable state) and moved on by
// the delivery worker with compare-and-set updates on Version.
type Delivery struct {
	// ID is the notification's id.
	ID    string        `json:"id"`
	Event *Notification `json:"event"`
	State DeliveryState `json:"state"`
	// Version counts stored changes; DeliveryUpdate is a compare-and-set
	// on it.
	Version int64 `json:"version"`
	// Expanded is set once Targets lists the subscriptions that want the
	// event (at the first claim, from the configuration of that moment).
	Expanded bool             `json:"expanded,omitempty"`
	Targets  []DeliveryTarget `json:"targets,omitempty"`
	// Attempts counts sending rounds; the backoff grows with it.
	Attempts int `json:"attempts"`
	// NextAttemptAt is when a pending delivery is due. A claim pushes it
	// to the claim's expiry, so a replica that dies mid-send leaves it due
	// again when the claim lapses.
	NextAttemptAt time.Time `json:"next_attempt_at"`
	ClaimedBy     string    `json:"claimed_by,omitempty"`
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// DeliveryTarget is one subscription's share of a delivery.
type DeliveryTarget struct {
	Subscription string        `json:"subscription"`
	State        DeliveryState `json:"state"`
	Attempts     int           `json:"attempts"`
	LastError    string        `json:"last_error,omitempty"`
	DeliveredAt  time.Time     `json:"delivered_at,omitzero"`
}

// NewDelivery is the pending outbox entry of n, due at once (Version 1).
func NewDelivery(n *Notification, now time.Time) *Delivery {
	return &Delivery{ID: n.ID, Event: n, State: DeliveryPending, Version: 1, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
}

// Clone returns a deep copy of d.
func (d *Delivery) Clone() *Delivery {
	c := *d
	ev := *d.Event
	c.Event = &ev
	c.Targets = slices.Clone(d.Targets)
	return &c
}

// DueAt is when a pending delivery is due; ok is false for the others.
func (d *Delivery) DueAt() (t time.Time, ok bool) {
	return d.NextAttemptAt, d.State == DeliveryPending
}

// ClaimDelivery returns d claimed by holder until until: the next version,
// due again only when the claim lapses. On its first claim the targets are
// the subscriptions that want the event.
func ClaimDelivery(d *Delivery, subs []*Subscription, holder string, now, until time.Time) (*Delivery, error) {
	if d.State != DeliveryPending {
		return nil, Errorf(EConflict, "delivery %s is %s, not pending", d.ID, d.State)
	}
	n := d.Clone()
	n.Version++
	n.ClaimedBy, n.NextAttemptAt, n.UpdatedAt = holder, until, now
	if !n.Expanded {
		n.Expanded, n.Targets = true, nil
		for _, s := range subs {
			if s.Wants(d.Event.Type) {
				n.Targets = append(n.Targets, DeliveryTarget{Subscription: s.Name, State: DeliveryPending})
			}
		}
	}
	return n, nil
}

// SettleDelivery records one sending round of claimed delivery d: results
// holds each attempted target's error (nil: accepted). A target that failed
// p.MaxAttempts times is failed. The delivery is delivered when every
// target is, failed when none is pending and one failed, else pending
// again after the backoff.
func SettleDelivery(d *Delivery, results map[string]error, p RetryPolicy, now time.Time) *Delivery {
	n := d.Clone()
	n.Version++
	n.ClaimedBy, n.UpdatedAt, n.LastError = "", now, ""
	n.Attempts++
	pending, failed := 0, 0
	for i := range n.Targets {
		t := &n.Targets[i]
		if err, tried := results[t.Subscription]; tried && t.State == DeliveryPending {
			t.Attempts++
			if err == nil {
				t.State, t.LastError, t.DeliveredAt = DeliveryDelivered, "", now
			} else {
				t.LastError = err.Error()
				n.LastError = t.Subscription + ": " + t.LastError
				if t.Attempts >= p.MaxAttempts {
					t.State = DeliveryFailed
				}
			}
		}
		switch t.State {
		case DeliveryPending:
			pending++
		case DeliveryFailed:
			failed++
		}
	}
	switch {
	case pending > 0:
		n.State, n.NextAttemptAt = DeliveryPending, now.Add(Backoff(p, n.Attempts, n.ID))
	case failed > 0:
		n.State, n.NextAttemptAt = DeliveryFailed, time.Time{}
	default:
		n.State, n.NextAttemptAt = DeliveryDelivered, time.Time{}
	}
	return n
}

// RetryDelivery sends d again, at once: a failed delivery's failed targets,
// or a delivered one's every target. EConflict when d is still pending.
func RetryDelivery(d *Delivery, now time.Time) (*Delivery, error) {
	if d.State == DeliveryPending {
		return nil, Errorf(EConflict, "delivery %s is still pending", d.ID)
	}
	n := d.Clone()
	n.Version++
	for i := range n.Targets {
		if t := &n.Targets[i]; d.State == DeliveryDelivered || t.State == DeliveryFailed {
			t.State, t.Attempts, t.LastError = DeliveryPending, 0, ""
		}
	}
	n.State, n.Attempts, n.NextAttemptAt, n.UpdatedAt, n.ClaimedBy = DeliveryPending, 0, now, now, ""
	return n, nil
}

// DeliveryIDBefore is the DeliveryPrune cutoff of time t: every event id of
// a notification older than t (NewID and derived ids start with the
// notification's time) sorts before it, every newer one after.
func DeliveryIDBefore(t time.Time) string { return eventID(t, nil) }

// DeliveryListParams filters DeliveryList.
type DeliveryListParams struct {
	PageParams
	State DeliveryState // optional
}
