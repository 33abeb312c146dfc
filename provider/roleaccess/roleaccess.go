// Package roleaccess gives a lessee access to an account through its
// vended role, with STS and IAM: a session in the lessee's name (session
// name, SourceIdentity, session tags, a duration bounded by the lease and
// the role), the role's trust document, and the parts of a revocation (the
// inline deny of sessions issued before a lease's end, the trust reset).
//
// The organizations provider uses these parts with its own clients. Direct
// is the whole ovm.Access for a vended role that OVM's principal assumes
// directly, as the signup provider's management accounts have it (they are
// outside OVM's organization: no OU, no SCP).
package roleaccess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/federation"
)

// PolicyName is the vended role's inline policy that denies every session
// issued before the last lease's end (IAM's "revoke older sessions"). It
// stays on the role across recycling.
const PolicyName = "OVMRevokeOlderSessions"

// MaxSession is the vended role's MaxSessionDuration as OVM makes it; a
// role-chained session is limited to the same hour by AWS.
const MaxSession = time.Hour

// Session tags of a lessee's session.
const (
	TagLeaseID = "ovm:lease-id"
	TagOwner   = "ovm:owner"
)

// STS is the part of STS a session needs.
type STS interface {
	AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// IAM is the part of IAM a revocation needs, inside the account.
type IAM interface {
	PutRolePolicy(context.Context, *iam.PutRolePolicyInput, ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	UpdateAssumeRolePolicy(context.Context, *iam.UpdateAssumeRolePolicyInput, ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
}

// TrustIAM is what RepairTrust calls.
type TrustIAM interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	UpdateAssumeRolePolicy(context.Context, *iam.UpdateAssumeRolePolicyInput, ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
}

// RepairTrust upgrades role's trust when it lets its principals
// sts:AssumeRole only (a role an older OVM made): it becomes TrustPolicy of
// the same principals, which may also set a source identity and tag the
// session. The principals are kept as they are (a lease's own principal,
// granted meanwhile, stays), and a trust that already allows both is left
// alone. It reports whether it rewrote the trust (ovm.TrustRepairer).
func RepairTrust(ctx context.Context, c TrustIAM, role string) (bool, error) {
	got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	if err != nil {
		return false, fmt.Errorf("read the trust of %s: %w", role, err)
	}
	principals, current, err := trustOf(aws.ToString(got.Role.AssumeRolePolicyDocument))
	if err != nil {
		return false, fmt.Errorf("the trust of %s: %w", role, err)
	}
	if current || len(principals) == 0 {
		return false, nil
	}
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(role),
		PolicyDocument: aws.String(TrustPolicy(principals...))}); err != nil {
		return false, fmt.Errorf("rewrite the trust of %s: %w", role, err)
	}
	return true, nil
}

// trustOf reads a trust policy (IAM returns it URL-encoded): the AWS
// principals its Allow statements trust to assume the role, and whether
// those statements also allow sts:SetSourceIdentity and sts:TagSession.
func trustOf(doc string) (principals []string, current bool, err error) {
	if s, err := url.QueryUnescape(doc); err == nil {
		doc = s
	}
	var p struct {
		Statement []struct {
			Effect    string
			Principal struct{ AWS any }
			Action    any
		}
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, false, err
	}
	strs := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var out []string
			for _, x := range v {
				if s, ok := x.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		return nil
	}
	allowed := map[string]bool{}
	for _, st := range p.Statement {
		if st.Effect != "Allow" {
			continue
		}
		actions := strs(st.Action)
		if !slices.Contains(actions, "sts:AssumeRole") {
			continue
		}
		principals = append(principals, strs(st.Principal.AWS)...)
		for _, a := range actions {
			allowed[a] = true
		}
	}
	return principals, allowed["sts:SetSourceIdentity"] && allowed["sts:TagSession"], nil
}

// SamePolicy compares two policy documents as JSON (IAM returns them
// URL-encoded).
func SamePolicy(stored, want string) bool {
	if s, err := url.QueryUnescape(stored); err == nil {
		stored = s
	}
	var a, b any
	if json.Unmarshal([]byte(stored), &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Session assumes roleARN for the lessee of r, for r.Duration within
// [ovm.MinSessionDuration, MaxSession]. region is what the lessee should
// use; chained marks OVM's own credentials as a role session.
func Session(ctx context.Context, c STS, roleARN string, r ovm.SessionRequest, region string, chained bool) (*ovm.Credentials, error) {
	d := min(max(r.Duration, ovm.MinSessionDuration), MaxSession)
	out, err := c.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN),
		RoleSessionName: aws.String(ovm.SessionName(r.Owner)), SourceIdentity: aws.String(ovm.SourceIdentity(r.Owner)),
		DurationSeconds: aws.Int32(int32(d / time.Second)),
		Tags: []ststypes.Tag{{Key: aws.String(TagLeaseID), Value: aws.String(r.LeaseID)},
			{Key: aws.String(TagOwner), Value: aws.String(tagValue(r.Owner))}}})
	if err != nil {
		return nil, err
	}
	cr := out.Credentials
	if cr == nil {
		return nil, errors.New("sts answered no credentials")
	}
	return &ovm.Credentials{AccessKeyID: aws.ToString(cr.AccessKeyId), SecretAccessKey: aws.ToString(cr.SecretAccessKey),
		SessionToken: aws.ToString(cr.SessionToken), Expiration: aws.ToTime(cr.Expiration), Region: region,
		SessionName: ovm.SessionName(r.Owner), SourceIdentity: ovm.SourceIdentity(r.Owner), RoleChained: chained}, nil
}

var tagValueBad = regexp.MustCompile(`[^\p{L}\p{Z}\p{N}_.:/=+\-@]+`)

// tagValue is s as a session tag value accepts it.
func tagValue(s string) string {
	s = tagValueBad.ReplaceAllString(s, "_")
	if len(s) > 256 {
		s = s[:256]
	}
	return s
}

// Chained reports whether a caller ARN (GetCallerIdentity) is a role
// session: every session it assumes is then role-chained.
func Chained(callerARN string) bool { return strings.Contains(callerARN, ":assumed-role/") }

// TrustPolicy is the vended role's trust: principals may assume it, set a
// SourceIdentity and tag the session (OVM does both for lessees).
func TrustPolicy(principals ...string) string {
	ps := slices.Clone(principals)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"AWS": ps},
		"Action": []string{"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}}}})
	return string(b)
}

// RevokePolicy is the inline deny of every session of the role issued
// before t, or in t's second: the condition names whole seconds, so t is
// rounded up (a session issued in the lease's last second is covered).
func RevokePolicy(t time.Time) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "DenySessionsOfEndedLeases", "Effect": "Deny", "Action": "*", "Resource": "*",
		"Condition": map[string]any{"DateLessThan": map[string]string{"aws:TokenIssueTime": DenyTime(t).Format(time.RFC3339)}}}}})
	return string(b)
}

// DenyTime is the time the deny of sessions older than t names: t rounded
// up to the next whole second, in UTC.
func DenyTime(t time.Time) time.Time {
	t = t.UTC()
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// DenyBefore puts the deny of sessions issued before t on role.
func DenyBefore(ctx context.Context, c IAM, role string, t time.Time) error {
	_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(PolicyName),
		PolicyDocument: aws.String(RevokePolicy(t))})
	return err
}

// Direct is ovm.Access for a vended role that OVM's principal assumes
// directly; OVM manages the role through a session of the role itself
// (issued after the lease's end, so the deny it writes does not stop it).
type Direct struct {
	STS STS
	// IAMFor makes an IAM client acting with creds.
	IAMFor func(creds aws.CredentialsProvider) IAM
	// AssumeWith is the STS client that assumes the role for OVM's own
	// sessions (usually STS itself; stscreds needs its AssumeRole).
	AssumeWith stscreds.AssumeRoleAPIClient
	Fed        *federation.Client
	RoleName   string
	// Trust are the role's own principals (the trust it is reset to).
	Trust  []string
	Region string
	// Chained reports whether OVM's credentials are a role session.
	Chained func() bool
}

var _ ovm.Access = (*Direct)(nil)

func (d *Direct) chained() bool { return d.Chained != nil && d.Chained() }

// Credentials implements ovm.Access.
func (d *Direct) Credentials(ctx context.Context, a *ovm.Account, r ovm.SessionRequest) (*ovm.Credentials, error) {
	return Session(ctx, d.STS, a.RoleARN, r, d.Region, d.chained())
}

// ConsoleURL implements ovm.Access through the federation endpoint.
func (d *Direct) ConsoleURL(ctx context.Context, c *ovm.Credentials, destination string, session time.Duration) (string, error) {
	if d.Fed == nil {
		return "", errors.New("no federation endpoint configured")
	}
	return d.Fed.SigninURL(ctx, c, destination, session)
}

// iam is IAM in a's account through a fresh session of its vended role.
func (d *Direct) iam(a *ovm.Account, session string) IAM {
	return d.IAMFor(aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(d.AssumeWith, a.RoleARN,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = session })))
}

// RepairTrust implements ovm.TrustRepairer: the role, in a session of
// itself, rewrites its own trust to the pool's principals when it differs.
func (d *Direct) RepairTrust(ctx context.Context, a *ovm.Account) (bool, error) {
	return RepairTrust(ctx, d.iam(a, "ovm-trust"), d.RoleName)
}

// Grant implements ovm.Access. On an account whose lease has guardrails,
// the principal is trusted only for sessions that set a source identity
// (GuardedTrustPolicy).
func (d *Direct) Grant(ctx context.Context, a *ovm.Account, principal string) error {
	doc := TrustPolicy(append(slices.Clone(d.Trust), principal)...)
	if _, guarded := ovm.GuardOf(a); guarded {
		doc = GuardedTrustPolicy(d.Trust, principal)
	}
	_, err := d.iam(a, "ovm-access").UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(d.RoleName),
		PolicyDocument: aws.String(doc)})
	return err
}

// Revoke implements ovm.Access: the deny of older sessions and the trust
// reset; both converge when run again.
func (d *Direct) Revoke(ctx context.Context, a *ovm.Account, r ovm.Revocation) (ovm.StepResult, error) {
	if r.Before.IsZero() {
		return ovm.Failed("the revocation names no lease end"), nil
	}
	// OVM's own session may be as old as the deny's time: it resets the
	// trust first and puts the deny last, so a retry after a failure never
	// needs a session the deny stops.
	c := d.iam(a, "ovm-revoke")
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(d.RoleName),
		PolicyDocument: aws.String(TrustPolicy(d.Trust...))}); err != nil {
		return ovm.StepResult{}, fmt.Errorf("reset the trust: %w", err)
	}
	if err := DenyBefore(ctx, c, d.RoleName, r.Before); err != nil {
		return ovm.StepResult{}, fmt.Errorf("deny older sessions: %w", err)
	}
	return ovm.StepResult{Status: ovm.StepDone,
		Report: "trust reset, sessions of " + d.RoleName + " issued before " + DenyTime(r.Before).Format(time.RFC3339) + " denied"}, nil
}

var _ ovm.Freezer = (*Direct)(nil)

// FrozenBoundary is the customer managed policy a frozen management
// account's vended role has as its permissions boundary: a session of the
// role may do nothing but take the boundary off again and manage the
// role's trust and inline policy (what OVM's own sessions of the role do).
const FrozenBoundary = "OVMFrozenBoundary"

// FrozenBoundaryPolicy is FrozenBoundary's document for role in account.
func FrozenBoundaryPolicy(partition, account, role string) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "OnlyOVMsUpkeepOfThisRole", "Effect": "Allow",
		"Action":   []string{"iam:DeleteRolePermissionsBoundary", "iam:GetRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"},
		"Resource": "arn:" + partition + ":iam::" + account + ":role/" + role}}})
	return string(b)
}

// BoundaryIAM is the part of IAM a management account's freeze adds.
type BoundaryIAM interface {
	CreatePolicy(context.Context, *iam.CreatePolicyInput, ...func(*iam.Options)) (*iam.CreatePolicyOutput, error)
	PutRolePermissionsBoundary(context.Context, *iam.PutRolePermissionsBoundaryInput, ...func(*iam.Options)) (*iam.PutRolePermissionsBoundaryOutput, error)
	DeleteRolePermissionsBoundary(context.Context, *iam.DeleteRolePermissionsBoundaryInput, ...func(*iam.Options)) (*iam.DeleteRolePermissionsBoundaryOutput, error)
}

// Freeze implements ovm.Freezer for a role outside OVM's organization (no
// SCP binds it): the role's trust is back to its own principals, its
// sessions issued before f.At are denied, and it gets FrozenBoundary as its
// permissions boundary, so that no session of it (but OVM's upkeep) may do
// anything while frozen. IAM users and roles the lessee made in the
// account are not bound (docs/budgets.md); f.Stop stops nothing here.
func (d *Direct) Freeze(ctx context.Context, a *ovm.Account, f ovm.Freeze) (ovm.FreezeResult, error) {
	if f.At.IsZero() {
		return ovm.FreezeResult{}, errors.New("the freeze names no time")
	}
	// As Revoke: the trust first, the deny and the boundary last (OVM's
	// session here is newer than f.At, so the deny does not stop it).
	c := d.iam(a, "ovm-freeze")
	if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(d.RoleName),
		PolicyDocument: aws.String(TrustPolicy(d.Trust...))}); err != nil {
		return ovm.FreezeResult{}, fmt.Errorf("reset the trust: %w", err)
	}
	if err := DenyBefore(ctx, c, d.RoleName, f.At); err != nil {
		return ovm.FreezeResult{}, fmt.Errorf("deny older sessions: %w", err)
	}
	bc, ok := c.(GuardIAM)
	if !ok {
		return ovm.FreezeResult{}, errors.New("roleaccess: the IAM client cannot set a permissions boundary")
	}
	// Made once and checked every time: a policy of that name the lessee
	// made first (one that denies OVM too) is corrected, not attached.
	partition := ovm.Partition(d.Region)
	arn := d.policyARN(a, FrozenBoundary)
	if err := ensurePolicy(ctx, bc, arn, FrozenBoundary, FrozenBoundaryPolicy(partition, a.AWSAccountID, d.RoleName),
		"OVM: the permissions boundary of "+d.RoleName+" while its lease is frozen"); err != nil {
		return ovm.FreezeResult{}, fmt.Errorf("the boundary %s: %w", FrozenBoundary, err)
	}
	if err := putBoundary(ctx, bc, d.RoleName, arn); err != nil {
		return ovm.FreezeResult{}, fmt.Errorf("set the boundary %s: %w", FrozenBoundary, err)
	}
	res := ovm.FreezeResult{Report: "trust reset, sessions of " + d.RoleName + " issued before " + DenyTime(f.At).Format(time.RFC3339) +
		" denied, permissions boundary " + FrozenBoundary + " set"}
	if f.Stop {
		res.Report += "; nothing stopped (a management account's resources are not stopped by OVM)"
	}
	return res, nil
}

// Unfreeze implements ovm.Freezer: the boundary taken off (and the
// guardrails' put back, when the lease has them in place), the lease's
// principal trusted again. Sessions issued before the freeze stay denied.
func (d *Direct) Unfreeze(ctx context.Context, a *ovm.Account, f ovm.Freeze) error {
	c := d.iam(a, "ovm-unfreeze")
	if bc, ok := c.(BoundaryIAM); ok {
		// The frozen boundary allows its own removal, not its replacement:
		// off first. The guardrails' inline deny binds the lessee meanwhile
		// (and the lessee is not trusted until the end).
		_, err := bc.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: aws.String(d.RoleName)})
		var nf *iamtypes.NoSuchEntityException
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("take off the boundary %s: %w", FrozenBoundary, err)
		}
		if g, wants := ovm.GuardOf(a); wants && ovm.Guarded(a) {
			if err := putBoundary(ctx, bc, d.RoleName, d.policyARN(a, GuardBoundaryName(g))); err != nil {
				return fmt.Errorf("put the guardrails' boundary back: %w", err)
			}
		}
	}
	if f.Principal == "" {
		return nil
	}
	return d.Grant(ctx, a, f.Principal)
}
