package httpapi

import (
	"strings"
	"time"

	"github.com/ovmdev/ovm"
)

// Lease is the JSON of a lease. AccountID is the 12-digit AWS account id,
// as in the seed's /vend answer; OVMAccountID is OVM's own id.
type Lease struct {
	ID               string            `json:"id"`
	AccountID        string            `json:"account_id"`
	CrossAccountRole string            `json:"cross_account_role"`
	OVMAccountID     string            `json:"ovm_account_id"`
	Pool             string            `json:"pool"`
	Owner            string            `json:"owner"`
	State            ovm.LeaseState    `json:"state"`
	EndReason        string            `json:"end_reason,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Principal        string            `json:"principal,omitempty"`
	CreatedAt        time.Time         `json:"created_at"`
	ExpiresAt        time.Time         `json:"expires_at"`
	EndedAt          *time.Time        `json:"ended_at,omitempty"`
}

func leaseDTO(l *ovm.Lease) Lease {
	return Lease{ID: l.ID, AccountID: l.AWSAccountID, CrossAccountRole: l.RoleARN, OVMAccountID: l.AccountID,
		Pool: l.Pool, Owner: l.Owner, State: l.State, EndReason: string(l.EndReason), Labels: l.Labels, Principal: l.Principal,
		CreatedAt: l.CreatedAt.UTC(), ExpiresAt: l.ExpiresAt.UTC(), EndedAt: timePtr(l.EndedAt)}
}

// Account is the JSON of an account.
type Account struct {
	ID               string            `json:"id"`
	AccountID        string            `json:"account_id"`
	Pool             string            `json:"pool"`
	State            ovm.AccountState  `json:"state"`
	Generation       int               `json:"generation"`
	Name             string            `json:"name"`
	Email            string            `json:"email"`
	CrossAccountRole string            `json:"cross_account_role,omitempty"`
	LeaseID          string            `json:"lease_id,omitempty"`
	ExternalRef      string            `json:"external_ref,omitempty"`
	Attempts         int               `json:"attempts"`
	LastError        string            `json:"last_error"`
	Waiting          string            `json:"waiting,omitempty"`
	QuarantinedFrom  string            `json:"quarantined_from,omitempty"`
	NextAttemptAt    *time.Time        `json:"next_attempt_at,omitempty"`
	Progress         map[string]string `json:"progress,omitempty"`
	Version          int64             `json:"version"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
	StateChangedAt   time.Time         `json:"state_changed_at"`
	// Events are the account's latest events, newest first (a page of
	// eventsOnAccount); EventsNextCursor continues with older ones at GET
	// /v1/accounts/{id}/events.
	Events           []Event `json:"events,omitempty"`
	EventsNextCursor string  `json:"events_next_cursor,omitempty"`
}

func accountDTO(a *ovm.Account) Account {
	d := Account{ID: a.ID, AccountID: a.AWSAccountID, Pool: a.Pool, State: a.State, Generation: a.Generation,
		Name: a.Name, Email: a.Email, CrossAccountRole: a.RoleARN, LeaseID: a.LeaseID, ExternalRef: a.ExternalRef,
		Attempts: a.Attempts, LastError: a.LastError, Waiting: a.Waiting, QuarantinedFrom: string(a.QuarantinedFrom),
		Progress: publicProgress(a.Progress), Version: a.Version, CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
		StateChangedAt: a.StateChangedAt.UTC()}
	if a.State.Working() {
		d.NextAttemptAt = timePtr(a.NextAttemptAt)
	}
	return d
}

// Event is the JSON of an event.
type Event struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	LeaseID string    `json:"lease_id,omitempty"`
	Actor   string    `json:"actor"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Reason  string    `json:"reason,omitempty"`
}

func eventDTO(e *ovm.Event) Event {
	return Event{Seq: e.Seq, Time: e.Time.UTC(), Kind: string(e.Kind), LeaseID: e.LeaseID, Actor: e.Actor,
		From: e.From, To: e.To, Reason: e.Reason}
}

// Key is the JSON of an API key; Key (the secret) only on creation.
type Key struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      ovm.Role   `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Key       string     `json:"key,omitempty"`
}

func keyDTO(k *ovm.APIKey) Key {
	return Key{ID: k.ID, Name: k.Name, Role: k.Role, CreatedAt: k.CreatedAt.UTC(), RevokedAt: timePtr(k.RevokedAt)}
}

// Pool is the JSON of a pool's policy and live status.
type Pool struct {
	Name           string         `json:"name"`
	Provider       string         `json:"provider"`
	Stock          Stock          `json:"stock"`
	Lease          LeaseLimits    `json:"lease"`
	Retire         Retire         `json:"retire"`
	Counts         map[string]int `json:"counts"`
	Ready          int            `json:"ready"`
	InFlight       int            `json:"in_flight"`
	Live           int            `json:"live"`
	CloseQuota     *Quota         `json:"close_quota,omitempty"`
	HeldBack       string         `json:"held_back,omitempty"`
	NextCreationAt *time.Time     `json:"next_creation_at,omitempty"`
	// The fields below are shown to admin keys only: they name accounts,
	// e-mails, errors and phone numbers. A user key sees counts and policy.
	Waiting []Account `json:"waiting,omitempty"`
	// Drift lists differences between AWS and the store (last check at
	// DriftCheckedAt); RecentCloses the close ledger's window.
	Drift          []Drift     `json:"drift,omitempty"`
	DriftCheckedAt *time.Time  `json:"drift_checked_at,omitempty"`
	RecentCloses   []CloseInfo `json:"recent_closes,omitempty"`
	// Channels is the provider's report on its outside channels (signup:
	// captcha solver statistics, phone number health).
	Channels map[string]any `json:"channels,omitempty"`
}

// Drift is one difference between AWS and the store.
type Drift struct {
	AWSAccountID string    `json:"aws_account_id,omitempty"`
	AccountID    string    `json:"ovm_account_id,omitempty"`
	Problem      string    `json:"problem"`
	Since        time.Time `json:"since"`
}

// CloseInfo is one entry of the close ledger.
type CloseInfo struct {
	AccountID    string    `json:"account_id"`
	OVMAccountID string    `json:"ovm_account_id,omitempty"`
	Pool         string    `json:"pool,omitempty"`
	At           time.Time `json:"at"`
}

// Stock is a pool's stock policy.
type Stock struct {
	// Target is the target now: the configured one, or the estimate of a
	// target that follows demand (Auto set, TargetWhy says how).
	Target      int        `json:"target"`
	TargetWhy   string     `json:"target_why,omitempty"`
	Auto        *AutoStock `json:"auto,omitempty"`
	Ceiling     int        `json:"ceiling"`
	MaxInFlight int        `json:"max_in_flight"`
	MinSpacing  string     `json:"min_spacing"`
}

// AutoStock is the bounds of a target that follows demand.
type AutoStock struct {
	Min      int     `json:"min"`
	Max      int     `json:"max"`
	HitRatio float64 `json:"hit_ratio"`
}

// LeaseLimits is a pool's lease policy.
type LeaseLimits struct {
	DefaultTTL string `json:"default_ttl"`
	MaxTTL     string `json:"max_ttl"`
	MinTTL     string `json:"min_ttl"`
	// MaxPerOwner caps one key's active leases in the pool.
	MaxPerOwner int `json:"max_per_owner"`
}

// Retire is a pool's retire policy.
type Retire struct {
	Mode           ovm.RetireMode `json:"mode"`
	MaxGenerations int            `json:"max_generations,omitempty"`
}

// Quota is a close quota.
type Quota struct {
	Limit      int        `json:"limit"`
	Used       int        `json:"used"`
	Left       int        `json:"left"`
	Window     string     `json:"window"`
	NextFreeAt *time.Time `json:"next_free_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Page is the JSON of a list.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// publicProgress is an account's progress without the inputs it was given
// (captcha answers, bank codes): those are never shown back.
func publicProgress(p map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range p {
		if !strings.HasPrefix(k, "input.") {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
