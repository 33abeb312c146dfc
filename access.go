package ovm

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// Access is an optional Provider capability: access that starts and ends
// with a lease. A provider that has it issues temporary credentials of the
// account's vended role to the lessee, builds an AWS console sign-in URL
// from them, adds a lease's own principal to the role's trust, and revokes
// all of it when the lease ends. Revoke is a step of the account's
// lifecycle (run by the engine before cleaning or closing, stored and
// resumable), never a side effect of a request.
type Access interface {
	// Credentials assumes a's vended role for the lessee named in r.
	Credentials(ctx context.Context, a *Account, r SessionRequest) (*Credentials, error)
	// ConsoleURL returns a sign-in URL to the AWS console for c that lands
	// on destination (empty: the provider's default); the console session
	// should last session (the lease's time left), as far as AWS allows.
	ConsoleURL(ctx context.Context, c *Credentials, destination string, session time.Duration) (string, error)
	// Grant adds principal (an IAM role or user ARN) to the trust of a's
	// vended role. Revoke takes it away again.
	Grant(ctx context.Context, a *Account, principal string) error
	// Revoke ends every access a lease gave: sessions issued before
	// r.Before are denied, the role's trust is reset, and where the pool
	// has a retiring OU the account is moved there. Each part converges
	// when run again; Done once all are in place.
	Revoke(ctx context.Context, a *Account, r Revocation) (StepResult, error)
}

// SessionRequest is what a lessee's session is made for.
type SessionRequest struct {
	LeaseID string
	Owner   string
	// Duration is the longest the session may last (the lease's time
	// left); the provider shortens it to the role's maximum.
	Duration time.Duration
}

// MinSessionDuration is the shortest session STS issues.
const MinSessionDuration = 15 * time.Minute

// Credentials are temporary credentials of an account's vended role. They
// print, log and format without the secret parts.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	// Region is the region the lessee should use.
	Region string
	// SessionName is the role session's name (CloudTrail shows it).
	SessionName string
	// SourceIdentity is the lessee as CloudTrail names it.
	SourceIdentity string
	// RoleChained marks credentials that came from a role session
	// (OVM itself runs on a role): the federation endpoint then refuses a
	// SessionDuration.
	RoleChained bool
	// Simulated marks credentials of the sim provider: they open nothing.
	Simulated bool
}

// String implements fmt.Stringer without the secret parts.
func (c Credentials) String() string {
	return fmt.Sprintf("credentials{access_key_id: %s, expiration: %s, session: %s}",
		c.AccessKeyID, c.Expiration.UTC().Format(time.RFC3339), c.SessionName)
}

// GoString implements fmt.GoStringer without the secret parts (%#v).
func (c Credentials) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without the secret parts.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", c.AccessKeyID),
		slog.Time("expiration", c.Expiration), slog.String("session", c.SessionName))
}

// DefaultClockMargin is how far OVM's clock and AWS's may disagree, unless
// a pool's retire.clock_margin says otherwise (RetirePolicy.ClockMargin). A
// lease's revocation denies the sessions issued before its end and the
// margin (a session STS issued on its own clock just after the lease ended
// on OVM's is denied too), and the account is not vended again before the
// deny's time and the margin have passed (the next lessee's sessions must be
// issued after the deny's time on AWS's clock too). NTP keeps clocks within
// a second; a minute is generous.
const DefaultClockMargin = time.Minute

// Revocation is what a lease's end leaves to revoke on its account.
type Revocation struct {
	LeaseID string
	// Before is the lease's end and the clock margin: sessions issued
	// before it are denied.
	Before time.Time
	// Principal is the lease's own principal, to drop from the trust.
	Principal string
}

// Progress keys of the revocation step. A lease's end writes them on its
// account in the same write; the engine runs Revoke while they are there
// and removes them once it is done, before cleaning or closing.
const (
	ProgressRevokeLease     = "access.revoke_lease"
	ProgressRevokeBefore    = "access.revoke_before"
	ProgressRevokePrincipal = "access.revoke_principal"
	// ProgressRevokedAt is when the last revocation finished.
	ProgressRevokedAt = "access.revoked_at"
	// ProgressTrustChecked is the version of the vended role's trust the
	// account was checked against (TrustVersion); the drift check repairs
	// an older trust once (TrustRepairer).
	ProgressTrustChecked = "access.trust_checked"
	// ProgressVendableAt is when the account may be vended again after
	// its last lease: the revocation's deny time and the clock margin
	// (VendableAt). A lease's end writes it; it stays after the revocation.
	ProgressVendableAt = "access.vendable_at"
)

// TrustVersion names the trust of the vended role this OVM writes: its
// principals may assume the role, set a source identity and tag the session
// (version 2; version 1 allowed sts:AssumeRole only).
const TrustVersion = "2"

// RecordTrustChecked records that ready account a's vended role trust was
// checked against TrustVersion and, when repaired, brought up to it (an
// event says so).
func RecordTrustChecked(a *Account, repaired bool, now time.Time) (*AccountUpdate, error) {
	if a.State != AccountReady {
		return nil, Errorf(EConflict, "account %s is %s: only a ready account's trust is repaired", a.ID, a.State)
	}
	reason := ""
	if repaired {
		reason = "vended role's trust brought up to version " + TrustVersion + " (sts:SetSourceIdentity, sts:TagSession)"
	}
	return transition(a, a.State, ActorDrift, reason, now, func(n *Account) {
		mergeProgress(n, map[string]string{ProgressTrustChecked: TrustVersion})
	})
}

// VendableAt is the earliest time account a may be vended again after its
// last lease (zero when it had none): a session of the next lessee issued
// sooner could fall under the previous lessee's deny on AWS's clock.
func VendableAt(a *Account) time.Time {
	t, err := time.Parse(time.RFC3339Nano, a.Progress[ProgressVendableAt])
	if err != nil {
		return time.Time{}
	}
	return t
}

// PendingRevocation returns the revocation a's last lease left, if it is
// not done yet.
func PendingRevocation(a *Account) (Revocation, bool) {
	id := a.Progress[ProgressRevokeLease]
	if id == "" {
		return Revocation{}, false
	}
	before, _ := time.Parse(time.RFC3339Nano, a.Progress[ProgressRevokeBefore])
	return Revocation{LeaseID: id, Before: before, Principal: a.Progress[ProgressRevokePrincipal]}, true
}

// FinishRevocation records that a's pending revocation is done: the
// account stays in its state (cleaning or closing) and its next step is due
// at once. report says what was revoked.
func FinishRevocation(a *Account, report string, now time.Time) (*AccountUpdate, error) {
	r, ok := PendingRevocation(a)
	if !ok {
		return nil, Errorf(EConflict, "account %s has no revocation pending", a.ID)
	}
	if a.State != AccountCleaning && a.State != AccountClosing {
		return nil, Errorf(EConflict, "account %s is %s: revocation runs only in cleaning or closing", a.ID, a.State)
	}
	reason := "access of lease " + r.LeaseID + " revoked"
	if report != "" {
		reason += ": " + report
	}
	return transition(a, a.State, ActorEngine, reason, now, func(n *Account) {
		delete(n.Progress, ProgressRevokeLease)
		delete(n.Progress, ProgressRevokeBefore)
		delete(n.Progress, ProgressRevokePrincipal)
		n.Progress[ProgressRevokedAt] = now.UTC().Format(time.RFC3339Nano)
		n.ClaimedBy, n.ClaimedUntil = "", time.Time{}
		n.Attempts, n.LastError, n.Waiting = 0, "", ""
		n.NextAttemptAt = now
	})
}

// markRevocation writes the revocation lease l leaves on account n, with
// clock margin margin.
func markRevocation(n *Account, l *Lease, margin time.Duration) {
	if n.Progress == nil {
		n.Progress = map[string]string{}
	}
	n.Progress[ProgressRevokeLease] = l.ID
	n.Progress[ProgressRevokeBefore] = l.EndedAt.Add(margin).UTC().Format(time.RFC3339Nano)
	n.Progress[ProgressVendableAt] = l.EndedAt.Add(2 * margin).UTC().Format(time.RFC3339Nano)
	if l.Principal != "" {
		n.Progress[ProgressRevokePrincipal] = l.Principal
	} else {
		delete(n.Progress, ProgressRevokePrincipal)
	}
}

// principalARNRe is an IAM role or user ARN: a lease's own principal.
var principalARNRe = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::[0-9]{12}:(role|user)/([\w+=,.@/-]{1,512})$`)

// CheckPrincipalARN validates a lease's own principal: the ARN of an IAM
// role or user (not a wildcard, not an account root, not a service) in the
// partition of roleARN, the vended role (IAM refuses a trust in another
// partition), with a name IAM allows (64 characters for a role, 64 for a
// user, after a path).
func CheckPrincipalARN(arn, roleARN string) error {
	m := principalARNRe.FindStringSubmatch(arn)
	bad := m == nil || strings.Contains(arn, "//") || strings.HasSuffix(arn, "/")
	if !bad {
		name := m[3][strings.LastIndex(m[3], "/")+1:]
		bad = len(name) > 64
	}
	if bad {
		return Errorf(EInvalid, "principal %q is not the ARN of an IAM role or user (arn:aws:iam::123456789012:role/NAME, a name of at most 64 characters)", arn)
	}
	if part, _, _ := strings.Cut(strings.TrimPrefix(roleARN, "arn:"), ":"); roleARN != "" && part != m[1] {
		return Errorf(EInvalid, "principal %q is in partition %s; the pool's accounts are in %s", arn, m[1], part)
	}
	return nil
}

var sessionNameBad = regexp.MustCompile(`[^\w+=,.@-]+`)

// SessionName is the role session name of a lessee's session: "ovm-"
// and the owner, with characters STS refuses replaced by "-", at most 64
// characters. CloudTrail shows it in the assumed role's ARN.
func SessionName(owner string) string {
	return clip("ovm-"+sessionNameBad.ReplaceAllString(owner, "-"), 64)
}

// SourceIdentity is the owner as STS's SourceIdentity accepts it (2-64
// characters of [\w+=,.@-]); it stays on every session chained from the
// lessee's, so CloudTrail names the lessee.
func SourceIdentity(owner string) string {
	s := sessionNameBad.ReplaceAllString(owner, "-")
	if len(s) < 2 {
		s = "ovm-" + s
	}
	return clip(s, 64)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
