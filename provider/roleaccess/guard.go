package roleaccess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/guardrail"
)

// A management account's guardrails (package guardrail, Options.OnRole)
// are two copies of the same denies on the vended role: the inline policy
// GuardPolicyName, and a customer managed policy per template and version
// (GuardBoundaryName) set as the role's permissions boundary, which also
// allows everything else. Each binds only the sessions with a source
// identity, the lessee's; OVM's own sessions of the role carry none. While
// the lease is frozen the boundary is FrozenBoundary instead, and the
// unfreeze puts the guardrails' back.
//
// What they do not bind: IAM users and roles the lessee makes in the
// account (docs/guardrails.md).

// GuardPolicyName is the vended role's inline policy of the guardrails.
const GuardPolicyName = "OVMGuardrails"

// guardBoundaryPrefix starts the name of every guardrails boundary.
const guardBoundaryPrefix = "OVMGuard-"

// GuardBoundaryName is the customer managed policy of g's template and
// version that is the role's permissions boundary.
func GuardBoundaryName(g ovm.Guard) string { return guardBoundaryPrefix + g.Template + "-" + g.Version }

// GuardIAM is the part of IAM a management account's guardrails add.
type GuardIAM interface {
	IAM
	BoundaryIAM
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	GetPolicy(context.Context, *iam.GetPolicyInput, ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(context.Context, *iam.GetPolicyVersionInput, ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
	ListPolicyVersions(context.Context, *iam.ListPolicyVersionsInput, ...func(*iam.Options)) (*iam.ListPolicyVersionsOutput, error)
	CreatePolicyVersion(context.Context, *iam.CreatePolicyVersionInput, ...func(*iam.Options)) (*iam.CreatePolicyVersionOutput, error)
	DeletePolicyVersion(context.Context, *iam.DeletePolicyVersionInput, ...func(*iam.Options)) (*iam.DeletePolicyVersionOutput, error)
	DeletePolicy(context.Context, *iam.DeletePolicyInput, ...func(*iam.Options)) (*iam.DeletePolicyOutput, error)
}

var _ ovm.Guardrailer = (*Direct)(nil)

// guardIAM is IAM in a's account, through a fresh session of its role,
// able to manage the guardrails.
func (d *Direct) guardIAM(a *ovm.Account, session string) (GuardIAM, error) {
	c, ok := d.iam(a, session).(GuardIAM)
	if !ok {
		return nil, errors.New("roleaccess: the IAM client cannot manage policies")
	}
	return c, nil
}

func (d *Direct) policyARN(a *ovm.Account, name string) string {
	return "arn:" + ovm.Partition(d.Region) + ":iam::" + a.AWSAccountID + ":policy/" + name
}

// Guard implements ovm.Guardrailer: g's boundary policy (made once,
// corrected if changed), the inline deny, and the boundary on the role
// (unless the lease is frozen: the freeze's boundary stays). It converges
// when run again.
func (d *Direct) Guard(ctx context.Context, a *ovm.Account, g ovm.Guard) error {
	if len(g.PolicyIDs) > 0 {
		return fmt.Errorf("a management account cannot have the organization's policies %s", strings.Join(g.PolicyIDs, ", "))
	}
	if g.Document == "" {
		return errors.New("the guardrails have no document")
	}
	boundary, err := guardrail.Boundary(g.Document)
	if err != nil {
		return err
	}
	c, err := d.guardIAM(a, "ovm-guard")
	if err != nil {
		return err
	}
	arn := d.policyARN(a, GuardBoundaryName(g))
	if err := ensurePolicy(ctx, c, arn, GuardBoundaryName(g), boundary,
		"OVM: the permissions boundary of "+d.RoleName+" under template "+g.Template+" (version "+g.Version+")"); err != nil {
		return err
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(d.RoleName), PolicyName: aws.String(GuardPolicyName),
		PolicyDocument: aws.String(g.Document)}); err != nil {
		return fmt.Errorf("put the inline deny %s: %w", GuardPolicyName, err)
	}
	if ovm.FrozenOn(a) != "" {
		return nil
	}
	if err := putBoundary(ctx, c, d.RoleName, arn); err != nil {
		return fmt.Errorf("set the boundary %s: %w", GuardBoundaryName(g), err)
	}
	return nil
}

// putBoundary sets the policy arn as role's permissions boundary. IAM is
// eventually consistent: a policy just made may not be found at once, so
// NoSuchEntity is tried again a few times (a vend would otherwise end its
// lease on the first).
func putBoundary(ctx context.Context, c BoundaryIAM, role, arn string) error {
	var nf *iamtypes.NoSuchEntityException
	for wait := 250 * time.Millisecond; ; wait *= 2 {
		_, err := c.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: aws.String(role),
			PermissionsBoundary: aws.String(arn)})
		if err == nil || !errors.As(err, &nf) || wait > 4*time.Second {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// ensurePolicy makes the customer managed policy name with doc, or, when
// it exists with another document (changed outside OVM), makes doc its
// default version again.
func ensurePolicy(ctx context.Context, c GuardIAM, arn, name, doc, description string) error {
	_, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(doc),
		Description: aws.String(description)})
	var exists *iamtypes.EntityAlreadyExistsException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &exists):
		return fmt.Errorf("create the policy %s: %w", name, err)
	}
	got, err := policyDocument(ctx, c, arn)
	if err != nil {
		return err
	}
	if SamePolicy(got, doc) {
		return nil
	}
	// IAM keeps at most 5 versions: drop the others before adding one.
	vs, err := c.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: aws.String(arn)})
	if err != nil {
		return fmt.Errorf("list the versions of %s: %w", name, err)
	}
	for _, v := range vs.Versions {
		if !v.IsDefaultVersion {
			if _, err := c.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: aws.String(arn), VersionId: v.VersionId}); err != nil {
				return fmt.Errorf("delete version %s of %s: %w", aws.ToString(v.VersionId), name, err)
			}
		}
	}
	if _, err := c.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{PolicyArn: aws.String(arn), PolicyDocument: aws.String(doc),
		SetAsDefault: true}); err != nil {
		return fmt.Errorf("correct the policy %s: %w", name, err)
	}
	return nil
}

// policyDocument is the default version's document of the policy arn.
func policyDocument(ctx context.Context, c GuardIAM, arn string) (string, error) {
	p, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("read the policy %s: %w", arn, err)
	}
	v, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: p.Policy.DefaultVersionId})
	if err != nil {
		return "", fmt.Errorf("read the policy %s: %w", arn, err)
	}
	s := aws.ToString(v.PolicyVersion.Document)
	if u, err := url.QueryUnescape(s); err == nil {
		s = u
	}
	return s, nil
}

// GuardCheck implements ovm.Guardrailer: the inline deny as g has it, the
// role's boundary g's (or the freeze's, while frozen), and that boundary's
// document as OVM wrote it.
func (d *Direct) GuardCheck(ctx context.Context, a *ovm.Account, g ovm.Guard) (string, error) {
	c, err := d.guardIAM(a, "ovm-guard-check")
	if err != nil {
		return "", err
	}
	var problems []string
	pol, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(d.RoleName), PolicyName: aws.String(GuardPolicyName)})
	var nf *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nf):
		problems = append(problems, "the inline deny "+GuardPolicyName+" is missing")
	case err != nil:
		return "", fmt.Errorf("read the inline deny: %w", err)
	case g.Document != "" && !SamePolicy(aws.ToString(pol.PolicyDocument), g.Document):
		problems = append(problems, "the inline deny "+GuardPolicyName+" was changed")
	}
	role, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(d.RoleName)})
	if err != nil {
		return "", fmt.Errorf("read the role %s: %w", d.RoleName, err)
	}
	want := d.policyARN(a, GuardBoundaryName(g))
	got := ""
	if b := role.Role.PermissionsBoundary; b != nil {
		got = aws.ToString(b.PermissionsBoundaryArn)
	}
	frozen := ovm.FrozenOn(a) != "" && got == d.policyARN(a, FrozenBoundary)
	switch {
	case frozen:
	case got == "":
		problems = append(problems, "the role has no permissions boundary")
	case got != want:
		problems = append(problems, "the role's permissions boundary is "+got)
	}
	if g.Document != "" {
		b, _ := guardrail.Boundary(g.Document)
		doc, err := policyDocument(ctx, c, want)
		switch {
		case errors.As(err, &nf):
			problems = append(problems, "the boundary policy "+GuardBoundaryName(g)+" is missing")
		case err != nil:
			return "", err
		case !SamePolicy(doc, b):
			problems = append(problems, "the boundary policy "+GuardBoundaryName(g)+" was changed")
		}
	}
	return strings.Join(problems, "; "), nil
}

// Unguard implements ovm.Guardrailer: the inline deny deleted, the role's
// boundary taken off when it is a guardrails' one (a freeze's is lifted by
// Unfreeze), and g's boundary policy deleted unless something else still
// uses it. It converges when run again.
func (d *Direct) Unguard(ctx context.Context, a *ovm.Account, g ovm.Guard) (ovm.StepResult, error) {
	c, err := d.guardIAM(a, "ovm-unguard")
	if err != nil {
		return ovm.StepResult{}, err
	}
	var nf *iamtypes.NoSuchEntityException
	if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(d.RoleName), PolicyName: aws.String(GuardPolicyName)}); err != nil && !errors.As(err, &nf) {
		return ovm.StepResult{}, fmt.Errorf("delete the inline deny %s: %w", GuardPolicyName, err)
	}
	role, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(d.RoleName)})
	if err != nil {
		return ovm.StepResult{}, fmt.Errorf("read the role %s: %w", d.RoleName, err)
	}
	if b := role.Role.PermissionsBoundary; b != nil && strings.HasPrefix(aws.ToString(b.PermissionsBoundaryArn), d.policyARN(a, guardBoundaryPrefix)) {
		if _, err := c.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: aws.String(d.RoleName)}); err != nil && !errors.As(err, &nf) {
			return ovm.StepResult{}, fmt.Errorf("take off the boundary: %w", err)
		}
	}
	report := "inline deny " + GuardPolicyName + " deleted, boundary taken off"
	_, err = c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(d.policyARN(a, GuardBoundaryName(g)))})
	var conflict *iamtypes.DeleteConflictException
	switch {
	case err == nil:
		report += ", policy " + GuardBoundaryName(g) + " deleted"
	case errors.As(err, &conflict):
		// Something the lessee made uses it: it binds nothing of OVM's,
		// and the account's cleaning or closing follows.
		report += ", policy " + GuardBoundaryName(g) + " kept (still in use: " + err.Error() + ")"
	case !errors.As(err, &nf):
		return ovm.StepResult{}, fmt.Errorf("delete the policy %s: %w", GuardBoundaryName(g), err)
	}
	return ovm.StepResult{Status: ovm.StepDone, Report: report}, nil
}

// GuardedTrustPolicy is the vended role's trust while its lease has
// guardrails: own (OVM's principals) as TrustPolicy has them, and the
// lease's own principal only for sessions that set a source identity,
// which the guardrails bind (a session without one would escape them).
func GuardedTrustPolicy(own []string, lessee string) string {
	ps := slices.Clone(own)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	actions := []string{"sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"}
	st := []any{map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": ps}, "Action": actions}}
	if lessee != "" && !slices.Contains(ps, lessee) {
		st = append(st, map[string]any{"Sid": "LesseeWithASourceIdentity", "Effect": "Allow", "Principal": map[string]any{"AWS": lessee},
			"Action": actions, "Condition": map[string]any{"Null": map[string]string{"sts:SourceIdentity": "false"}}})
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": st})
	return string(b)
}
