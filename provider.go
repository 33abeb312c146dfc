package ovm

import (
	"context"
	"time"
)

// Provider makes, prepares and retires AWS accounts for one pool. Each method
// drives one step of one account and must be idempotent: calling it again
// with the same account (as stored) converges, never duplicates.
//
// Outcomes are explicit: a method returns a StepResult and a nil error when it
// knows where the step stands (pending, done, or failed for good); a non-nil
// error means "transient, try again later" and the engine retries with
// backoff.
//
// The conformance suite provider/providertest checks this contract and,
// where a provider has them, the Access and Cleaner capabilities. Each
// provider runs it from its tests: sim in process, organizations on moto
// (Cleaner with the real aws-nuke), signup on its sign-up replica in
// Chromium with its vended roles in moto. A new provider runs it too.
type Provider interface {
	// Reserve derives the account's unique name and e-mail from its OVM id.
	// It makes no call; the engine stores both before Create is called.
	Reserve(id string) (name, email string)
	// Create starts (when a.ExternalRef is empty) or polls the creation of
	// a's AWS account. Starting twice must not create a second account: a
	// provider finds an earlier request by the reserved e-mail. Done carries
	// AWSAccountID; Pending carries ExternalRef once the request is known.
	Create(ctx context.Context, a *Account) (StepResult, error)
	// Bootstrap prepares the account (role, contacts, alias, OU) and ends
	// with a smoke test. Done carries RoleARN.
	Bootstrap(ctx context.Context, a *Account) (StepResult, error)
	// Close requests closure (quota permitting) or polls it. Done only when
	// AWS is observed to report the account closed; a quota wait is Pending
	// with Reason saying so.
	Close(ctx context.Context, a *Account) (StepResult, error)
}

// Cleaner is an optional Provider capability: it wipes a leased account's
// resources so it can be vended again, within policy (CleanTimeout per
// pass, CleanPasses in a row). Done means clean; an error is a failed pass
// (retried, then quarantined); Failed means it cannot be cleaned.
type Cleaner interface {
	Clean(ctx context.Context, a *Account, policy RetirePolicy) (StepResult, error)
}

// QuotaReporter is an optional Provider capability: it reports how many
// closures the close quota still allows.
type QuotaReporter interface {
	CloseQuota(ctx context.Context) (Quota, error)
}

// CloseLister is an optional Provider capability: a provider that keeps a
// close ledger lists the closures of the quota window (pool status).
type CloseLister interface {
	RecentCloses(ctx context.Context) ([]*CloseEntry, error)
}

// ChannelReporter is an optional Provider capability: it reports on the
// outside channels it depends on (captcha solvers, phone numbers), as
// JSON-encodable values that never hold a secret (pool status).
type ChannelReporter interface {
	Channels() map[string]any
}

// ProgressReporter is an optional Provider capability: a provider whose
// steps run for minutes (a cleaning pass) tells how the step under way for
// an account in this process is going. The engine shows the entries in the
// account's progress under "live." (account and pool status) and never
// stores them. The runner records the step when it returns, with a
// compare-and-set on the account's version, so a provider must not write
// the account meanwhile (appending events is fine). Nil when no step of the
// account runs in this process.
type ProgressReporter interface {
	LiveProgress(accountID string) map[string]string
}

// PINSource is an optional Provider capability: a provider that verifies
// phone numbers tells which PIN a call to number must key in now (for an
// operator's own contact flow).
type PINSource interface {
	PIN(number string) (pin string, ok bool)
}

// EvidenceKeeper is an optional Provider capability: a provider that keeps
// evidence of failed steps (a screenshot, the page's HTML, the step's log)
// lists an account's records, newest first, and reads their files.
// EvidenceFile returns ErrNotFound for a record or file it did not keep.
type EvidenceKeeper interface {
	Evidence(ctx context.Context, accountID string) ([]Evidence, error)
	EvidenceFile(ctx context.Context, accountID, record, file string) ([]byte, error)
}

// TrustRepairer brings the trust of an account's vended role to what this
// OVM writes: a role bootstrapped by an older OVM trusts its principals for
// sts:AssumeRole only, and STS refuses the lessee sessions OVM asks for
// (they set a source identity and tags). RepairTrust rewrites the trust when
// it differs and reports whether it did; it is called for ready accounts
// once (the drift check), so it never drops a lease's own principal.
type TrustRepairer interface {
	RepairTrust(ctx context.Context, a *Account) (repaired bool, err error)
}

// Evidence is one kept record: what a provider saw when a step failed.
type Evidence struct {
	// Name names the record: the failure's time, section and step.
	Name string `json:"name"`
	// Files are the record's files (screenshot.jpg, page.html, step.log).
	Files []string `json:"files"`
}

// Quota is a rolling-window allowance.
type Quota struct {
	// Limit is the allowance per Window; 0 means there is no quota.
	Limit  int           `json:"limit"`
	Used   int           `json:"used"`
	Window time.Duration `json:"window"`
	// NextFreeAt is when the oldest counted use leaves the window.
	NextFreeAt time.Time `json:"next_free_at"`
}

// Limited reports whether a quota applies.
func (q Quota) Limited() bool { return q.Limit > 0 }

// Left is how many uses remain (meaningful when Limited).
func (q Quota) Left() int { return max(0, q.Limit-q.Used) }

// StepStatus is the outcome of one provider step.
type StepStatus string

const (
	// StepPending: under way; call again after Wait.
	StepPending StepStatus = "pending"
	// StepDone: finished successfully.
	StepDone StepStatus = "done"
	// StepFailed: failed for good; retrying the same step will not help.
	StepFailed StepStatus = "failed"
)

// StepResult is what a provider step reports.
type StepResult struct {
	Status       StepStatus
	ExternalRef  string // Create: the request's reference, once known
	AWSAccountID string // Create, when done
	RoleARN      string // Bootstrap, when done
	// Wait is how long to wait before calling again (Pending).
	Wait time.Duration
	// Reason says what a pending step waits for or why a step failed.
	Reason string
	// AccountMayExist marks a failed Create after which an AWS account
	// may exist: the engine quarantines instead of abandoning.
	AccountMayExist bool
	// Progress is merged into Account.Progress and stored.
	Progress map[string]string
	// Report, when set, is recorded in the account's event log with the
	// step's outcome (e.g. what a cleaning pass found and removed).
	Report string
}

// Pending returns a pending result.
func Pending(wait time.Duration, reason string) StepResult {
	return StepResult{Status: StepPending, Wait: wait, Reason: reason}
}

// Failed returns a definitive failure.
func Failed(reason string) StepResult { return StepResult{Status: StepFailed, Reason: reason} }

// Inventory is an optional Provider capability: it lists the AWS accounts
// that carry OVM's tags in the provider's organization, so the engine can
// compare AWS with the store (drift).
type Inventory interface {
	Inventory(ctx context.Context) ([]ExternalAccount, error)
}

// ExternalAccount is an AWS account as the provider sees it.
type ExternalAccount struct {
	AWSAccountID string
	// AccountID and Pool come from the account's ovm:account-id and
	// ovm:pool tags.
	AccountID string
	Pool      string
	Email     string
	// State is the AWS state (ACTIVE, SUSPENDED, PENDING_CLOSURE, ...).
	State string
}
