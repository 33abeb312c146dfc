package ovm

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NotificationType names what a notification reports. The names are public:
// subscribers filter on them and receivers switch on them.
type NotificationType string

const (
	// NotifyLeaseCreated: an account was vended. Written by the store in the
	// same write as the lease.
	NotifyLeaseCreated NotificationType = "lease.created"
	// NotifyLeaseExpiring: an active lease expires within the configured
	// lead time. Derived by the engine from the stored expiry, once per
	// expiry (an extended lease is reported again).
	NotifyLeaseExpiring NotificationType = "lease.expiring"
	// NotifyLeaseEnded: a lease ended (expired, released, revoked,
	// account_failed), with the reason. Written with the lease's end.
	NotifyLeaseEnded NotificationType = "lease.ended"
	// NotifyAccountQuarantined: automation gave up on an account; the last
	// error says why. Written with the move to quarantined.
	NotifyAccountQuarantined NotificationType = "account.quarantined"
	// NotifyPoolLow: a pool's ready stock fell below its low mark (and is
	// not zero). Derived by the engine's leader from the pool's counts.
	NotifyPoolLow NotificationType = "pool.low"
	// NotifyPoolEmpty: a pool has no ready account. Derived like pool.low.
	NotifyPoolEmpty NotificationType = "pool.empty"
	// NotifyDriftFound: AWS and the store disagree about an account. Written
	// with the drift event.
	NotifyDriftFound NotificationType = "drift.found"
	// NotifyLeaseBudget: a lease's budget threshold acted (notify, freeze
	// or end), with the threshold, the spend and its projection. Written
	// with the act, once per threshold and limit.
	NotifyLeaseBudget NotificationType = "lease.budget"
	// NotifyLeaseBilled: an ended lease's final bill is settled: every day
	// of it reported by Cost Explorer, or spend.settle passed. Written by
	// the spend worker, once per lease (its id derives from the lease).
	NotifyLeaseBilled NotificationType = "lease.billed"
)

// NotificationTypes lists every type, in documentation order.
var NotificationTypes = []NotificationType{NotifyLeaseCreated, NotifyLeaseExpiring, NotifyLeaseEnded,
	NotifyAccountQuarantined, NotifyPoolLow, NotifyPoolEmpty, NotifyDriftFound, NotifyLeaseBudget, NotifyLeaseBilled}

// Valid reports whether t is one of NotificationTypes.
func (t NotificationType) Valid() bool { return slices.Contains(NotificationTypes, t) }

// Notification is what a subscriber receives (the JSON body of a webhook,
// an SNS message, an EventBridge event's detail). ID is the same on every
// delivery of one event: receivers de-duplicate on it.
type Notification struct {
	ID   string           `json:"id"`
	Type NotificationType `json:"type"`
	// Time is when the reported change happened.
	Time time.Time `json:"time"`
	Pool string    `json:"pool,omitempty"`
	// AccountID is OVM's account id; AWSAccountID the 12-digit AWS id.
	AccountID    string `json:"account_id,omitempty"`
	AWSAccountID string `json:"aws_account_id,omitempty"`
	LeaseID      string `json:"lease_id,omitempty"`
	Owner        string `json:"owner,omitempty"`
	// ExpiresAt is the lease's expiry (lease.created, lease.expiring).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Reason is why a lease ended (lease.ended) or what drifted
	// (drift.found).
	Reason string `json:"reason,omitempty"`
	// LastError is the error that quarantined the account.
	LastError string `json:"last_error,omitempty"`
	// Ready and Target are the pool's ready stock and target (pool.low,
	// pool.empty).
	Ready  *int `json:"ready,omitempty"`
	Target int  `json:"target,omitempty"`
	// Budget is the act of a budget threshold (lease.budget).
	Budget *BudgetNotice `json:"budget,omitempty"`
	// Bill is the lease's final bill (lease.billed).
	Bill *BillNotice `json:"bill,omitempty"`
}

// BudgetNotice is what lease.budget reports: the threshold, its action,
// the lease's limit, spend and projection (USD) when it acted.
type BudgetNotice struct {
	Threshold    string       `json:"threshold"`
	Action       BudgetAction `json:"action"`
	LimitUSD     float64      `json:"limit_usd"`
	SpendUSD     float64      `json:"spend_usd"`
	ProjectedUSD float64      `json:"projected_usd"`
}

// NotificationTypeOf is the type of notification event e reports, or ""
// when it reports none.
func NotificationTypeOf(e *Event) NotificationType {
	switch {
	case e.Kind == EventLease && e.From == "" && e.To == string(LeaseActive):
		return NotifyLeaseCreated
	case e.Kind == EventLease && e.To == string(LeaseEnded) && e.From != string(LeaseEnded):
		return NotifyLeaseEnded
	case e.Kind == EventAccount && e.To == string(AccountQuarantined) && e.From != string(AccountQuarantined):
		return NotifyAccountQuarantined
	case e.Kind == EventDrift:
		return NotifyDriftFound
	case e.Kind == EventBudget:
		return NotifyLeaseBudget
	}
	return ""
}

// NotificationFor returns the notification that event e reports, or nil if
// it reports none. a and l are the event's account and lease as the change
// left them (either may be nil). Stores call it for every event they append
// and write the result to the outbox in the same write as the event, so a
// change is never recorded without its notification.
func NotificationFor(e *Event, a *Account, l *Lease) *Notification {
	t := NotificationTypeOf(e)
	if t == "" {
		return nil
	}
	n := &Notification{Type: t, Time: e.Time, Pool: e.Pool, AccountID: e.AccountID, LeaseID: e.LeaseID}
	switch t {
	case NotifyLeaseEnded, NotifyDriftFound, NotifyLeaseBudget:
		n.Reason = e.Reason
	case NotifyAccountQuarantined:
		n.LastError = e.Reason
	}
	if l != nil && l.ID == e.LeaseID {
		n.AWSAccountID, n.Owner = l.AWSAccountID, l.Owner
		if n.Type == NotifyLeaseCreated {
			n.ExpiresAt = &l.ExpiresAt
		}
		if n.Type == NotifyLeaseBudget && l.Budget != nil && len(l.Budget.Acted) > 0 {
			act := l.Budget.Acted[len(l.Budget.Acted)-1]
			n.Budget = &BudgetNotice{Threshold: Threshold{At: act.At}.Percent(), Action: act.Action, LimitUSD: act.LimitUSD,
				SpendUSD: act.SpendUSD, ProjectedUSD: act.ProjectedUSD}
		}
	}
	if a != nil && a.ID == e.AccountID {
		n.AWSAccountID, n.Pool = a.AWSAccountID, a.Pool
		if n.Type == NotifyAccountQuarantined && a.LastError != "" {
			n.LastError = a.LastError
		}
	}
	n.ID = NewID("evt", e.Time)
	return n
}

// ExpiringNotification is the lease.expiring notification of active lease
// l. Its id derives from the lease and its expiry, so every replica that
// finds the lease in its lead window writes the same outbox entry (the
// store keeps the first), and an extended lease is reported again.
func ExpiringNotification(l *Lease) *Notification {
	exp := l.ExpiresAt
	return &Notification{ID: derivedID(exp, "lease.expiring/"+l.ID+"/"+strconv.FormatInt(exp.UnixNano(), 10)),
		Type: NotifyLeaseExpiring, Time: exp, Pool: l.Pool, AccountID: l.AccountID, AWSAccountID: l.AWSAccountID,
		LeaseID: l.ID, Owner: l.Owner, ExpiresAt: &exp}
}

// StockLevel is the pool.low / pool.empty level of a pool with ready
// accounts ready and low mark low: "" when neither applies.
func StockLevel(ready, low int) NotificationType {
	switch {
	case ready <= 0:
		return NotifyPoolEmpty
	case ready < low:
		return NotifyPoolLow
	}
	return ""
}

// StockNotification is the pool.low or pool.empty notification of pool at
// now, for a fall from the stock level recorded at since (the pool's last
// stock event; zero for none). Its id derives from the fall, not from now:
// every leader that sees the same fall, before or after a crash, writes the
// same outbox entry.
func StockNotification(t NotificationType, pool string, ready, target int, since, now time.Time) *Notification {
	return &Notification{ID: derivedID(since, string(t)+"/"+pool+"/"+since.UTC().Format(time.RFC3339Nano)), Type: t, Time: now,
		Pool: pool, Ready: &ready, Target: target}
}

// derivedID is an event id like NewID's (sorting by at) whose other bits
// derive from key: the same key and time give the same id.
func derivedID(at time.Time, key string) string {
	h := sha256.Sum256([]byte(key))
	return eventID(at, h[:10])
}

// eventID is "evt_" and NewID's encoding of at's milliseconds followed by
// the 80 bits of tail (zeros when short).
func eventID(at time.Time, tail []byte) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(at.UnixMilli())<<16)
	copy(b[6:], tail)
	return "evt_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// Subscription is one receiver of notifications: a named sink and the
// types it wants (all when Types is empty).
type Subscription struct {
	Name  string
	Types []NotificationType
	Sink  Sink
}

// Wants reports whether s takes notifications of type t.
func (s *Subscription) Wants(t NotificationType) bool {
	return len(s.Types) == 0 || slices.Contains(s.Types, t)
}
