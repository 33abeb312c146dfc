package ovm

import (
	"maps"
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
)

// LeaseEndReason says why a lease ended.
type LeaseEndReason string

const (
	LeaseExpired       LeaseEndReason = "expired"        // ExpiresAt passed
	LeaseReleased      LeaseEndReason = "released"       // the owner released it early
	LeaseRevoked       LeaseEndReason = "revoked"        // an admin ended it
	LeaseAccountFailed LeaseEndReason = "account_failed" // the account could not be kept
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
	Version   int64          `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	ExpiresAt time.Time      `json:"expires_at"`
	EndedAt   time.Time      `json:"ended_at"`
}

// Clone returns a deep copy of l.
func (l *Lease) Clone() *Lease {
	c := *l
	c.Labels = maps.Clone(l.Labels)
	return &c
}
