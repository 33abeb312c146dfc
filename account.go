package ovm

import (
	"maps"
	"regexp"
	"strings"
	"time"
)

// AccountState is where an account stands in its lifecycle. The engine moves
// working states on; ready and leased move only through leases; terminal
// states never move; quarantined moves only by an operator.
type AccountState string

const (
	// AccountPending: ordered by the stock planner. Its unique name and
	// e-mail are reserved (derived from the OVM id) before any AWS call. The
	// engine moves it to creating once the provider accepted the create
	// request, or to abandoned when the provider refuses it definitively.
	AccountPending AccountState = "pending"
	// AccountCreating: the provider's create operation is started and its
	// external reference is stored. The engine polls until the AWS account
	// exists (-> bootstrapping) or creation failed for good (-> abandoned,
	// or quarantined when an AWS account may exist).
	AccountCreating AccountState = "creating"
	// AccountBootstrapping: the AWS account exists; the cross-account role,
	// contacts, alias, tags and OU are being set, ending with a smoke test.
	// The engine moves it to ready when the provider reports success.
	AccountBootstrapping AccountState = "bootstrapping"
	// AccountReady: in stock. A vend moves it to leased.
	AccountReady AccountState = "ready"
	// AccountLeased: held by exactly one active lease. Ending the lease
	// moves it to cleaning (recycle) or closing (retire).
	AccountLeased AccountState = "leased"
	// AccountCleaning: the previous lessee's resources are being removed.
	// The engine moves it back to ready (generation+1) or on to closing.
	AccountCleaning AccountState = "cleaning"
	// AccountClosing: closure is requested or waiting for quota. The engine
	// moves it to closed only once AWS is observed to report it closed.
	AccountClosing AccountState = "closing"
	// AccountClosed: terminal; AWS reports the account suspended or closed.
	AccountClosed AccountState = "closed"
	// AccountAbandoned: terminal; creation failed and no AWS account exists.
	AccountAbandoned AccountState = "abandoned"
	// AccountQuarantined: automation gave up (attempts exhausted or a
	// definitive failure); LastError says why. An operator retries it (back
	// to the state it failed in) or retires it (closing, or abandoned when
	// no AWS account was ever started).
	AccountQuarantined AccountState = "quarantined"
)

// AccountStates lists every account state in lifecycle order.
var AccountStates = []AccountState{
	AccountPending, AccountCreating, AccountBootstrapping, AccountReady, AccountLeased,
	AccountCleaning, AccountClosing, AccountClosed, AccountAbandoned, AccountQuarantined,
}

// Valid reports whether s is one of the documented states.
func (s AccountState) Valid() bool {
	switch s {
	case AccountPending, AccountCreating, AccountBootstrapping, AccountReady, AccountLeased,
		AccountCleaning, AccountClosing, AccountClosed, AccountAbandoned, AccountQuarantined:
		return true
	}
	return false
}

// Terminal reports whether no transition leaves s.
func (s AccountState) Terminal() bool { return s == AccountClosed || s == AccountAbandoned }

// Working reports whether the engine drives accounts in s with provider calls.
func (s AccountState) Working() bool {
	switch s {
	case AccountPending, AccountCreating, AccountBootstrapping, AccountCleaning, AccountClosing:
		return true
	}
	return false
}

// InFlight reports whether s is on the way to stock (counted by the planner).
func (s AccountState) InFlight() bool {
	return s == AccountPending || s == AccountCreating || s == AccountBootstrapping
}

// Account is one AWS account managed by OVM, from its reservation to its
// closure. ID is OVM's own identifier, known before AWS is called;
// AWSAccountID is the 12-digit AWS id, known once creation succeeded.
type Account struct {
	ID           string       `json:"id"`
	Pool         string       `json:"pool"`
	State        AccountState `json:"state"`
	Version      int64        `json:"version"`
	AWSAccountID string       `json:"aws_account_id,omitempty"`
	// Name and Email are reserved at insertion, derived from ID by the
	// pool's provider; AWS e-mails are single-use forever.
	Name  string `json:"name"`
	Email string `json:"email"`
	// ExternalRef is the provider's handle of the create operation.
	ExternalRef string `json:"external_ref,omitempty"`
	// RoleARN is the cross-account role handed to lessees.
	RoleARN string `json:"role_arn,omitempty"`
	// Generation counts how often the account was recycled.
	Generation int `json:"generation"`
	// LeaseID is the active lease while State is leased.
	LeaseID string `json:"lease_id,omitempty"`

	// Retry state of the current step, reset on every state change.
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"last_error,omitempty"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	// Waiting says what a pending step waits for (e.g. close quota).
	Waiting string `json:"waiting,omitempty"`
	// QuarantinedFrom is the state the account failed in.
	QuarantinedFrom AccountState `json:"quarantined_from,omitempty"`

	// ClaimedBy and ClaimedUntil mark a worker's claim on the next step; a
	// claim that is not renewed lapses at ClaimedUntil.
	ClaimedBy    string    `json:"claimed_by,omitempty"`
	ClaimedUntil time.Time `json:"claimed_until"`

	// Progress is resumable progress, shared in key spaces, one owner each
	// (ADR 0009): "access." the domain's (a pending revocation, when the
	// account may be vended again, the trust version checked), "input."
	// an operator's values a step waits for (RecordInput), "live." the
	// engine's figures of a running step (never stored), and "<kind>." the
	// provider of that kind's own (e.g. the sign-up's step).
	Progress map[string]string `json:"progress,omitempty"`

	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	StateChangedAt time.Time `json:"state_changed_at"`
}

// Clone returns a deep copy of a.
func (a *Account) Clone() *Account {
	c := *a
	c.Progress = maps.Clone(a.Progress)
	return &c
}

// DueAt is when the engine should next act on a, and false when a is not in
// a working state (stores index this to find due work without scanning).
func (a *Account) DueAt() (time.Time, bool) {
	if !a.State.Working() {
		return time.Time{}, false
	}
	due := a.NextAttemptAt
	if a.ClaimedUntil.After(due) {
		due = a.ClaimedUntil
	}
	return due, true
}

var awsAccountIDRe = regexp.MustCompile(`^[0-9]{12}$`)

// IsAWSAccountID reports whether s has the form of an AWS account id.
func IsAWSAccountID(s string) bool { return awsAccountIDRe.MatchString(s) }

// Partition is the ARN partition of an AWS Region: aws-cn for China,
// aws-us-gov for GovCloud, aws for the others.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// RoleARN returns the ARN of role roleName in AWS account awsID.
func RoleARN(awsID, roleName string) string {
	return "arn:aws:iam::" + awsID + ":role/" + roleName
}
