package awsorgs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// errIAMNotReady marks a refusal that IAM's propagation delay explains.
var errIAMNotReady = errors.New("iam not ready")

// Bootstrap implements ovm.Provider. Every step converges when run again:
// the vended role is created or its trust and policies updated, the alias
// is set if the account has none, the billing contact is put, the account
// is moved to the OU if it is elsewhere, and the smoke test assumes the
// vended role and asks STS who it is.
func (p *Provider) Bootstrap(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	_, mgmtID, err := p.org(ctx)
	if err != nil {
		return ovm.StepResult{}, err
	}
	id := a.AWSAccountID
	done := func(step string) map[string]string { return map[string]string{"awsorgs.bootstrap": step} }
	creds := p.assume(ovm.RoleARN(id, p.cfg.CreationRole), "ovm-bootstrap", p.c.STS)
	if _, err := creds.Retrieve(ctx); err != nil {
		return p.iamWait(a, "assume the creation role "+p.cfg.CreationRole, err)
	}
	roleARN, err := p.ensureRole(ctx, p.c.IAMFor(creds), mgmtID)
	if err != nil {
		return ovm.StepResult{}, fmt.Errorf("vended role: %w", err)
	}
	if err := p.ensureAlias(ctx, p.c.IAMFor(creds), a); err != nil {
		return ovm.StepResult{}, fmt.Errorf("account alias: %w", err)
	}
	if bc := p.cfg.BillingContact; bc != nil {
		_, err := p.c.Account.PutAlternateContact(ctx, &account.PutAlternateContactInput{AccountId: aws.String(id),
			AlternateContactType: accounttypes.AlternateContactTypeBilling, Name: aws.String(bc.Name),
			Title: aws.String(bc.Title), EmailAddress: aws.String(bc.Email), PhoneNumber: aws.String(bc.Phone)})
		if err != nil {
			return ovm.StepResult{}, fmt.Errorf("billing contact: %w", err)
		}
	}
	if err := p.ensureOU(ctx, id, p.cfg.ParentOU); err != nil {
		return ovm.StepResult{}, fmt.Errorf("move to %s: %w", p.cfg.ParentOU, err)
	}
	if err := p.ensureForwarding(ctx, id, creds); err != nil {
		return ovm.StepResult{}, fmt.Errorf("spend forwarding: %w", err)
	}
	// Smoke test: a trusted principal (the management account) assumes the
	// vended role and STS answers from inside the account.
	vended := p.assume(roleARN, "ovm-smoke-test", p.c.STS)
	who, err := p.c.STSFor(vended).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		r, err := p.iamWait(a, "smoke test: assume "+roleARN, err)
		if r.Status == ovm.StepPending {
			r.Progress = done("waiting for the smoke test")
		}
		return r, err
	}
	if got := deref(who.Account); got != id {
		return ovm.Failed(fmt.Sprintf("smoke test: assuming %s landed in account %s, not %s", roleARN, got, id)), nil
	}
	return ovm.StepResult{Status: ovm.StepDone, RoleARN: roleARN, Progress: done("done")}, nil
}

// assume returns credentials of roleARN, assumed with base, cached.
func (p *Provider) assume(roleARN, session string, base stsAPI) aws.CredentialsProvider {
	return aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(base, roleARN,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = session }))
}

// iamWait turns a refusal into a wait while the account is young enough
// for IAM to be catching up, and into a transient error after that.
func (p *Provider) iamWait(a *ovm.Account, what string, err error) (ovm.StepResult, error) {
	if age := p.clock.Now().Sub(a.StateChangedAt); age < p.cfg.IAMWait {
		return ovm.Pending(p.cfg.PollInterval, fmt.Sprintf("%s refused %s after creation; IAM may still be catching up", what, age.Round(1e9))), nil
	}
	return ovm.StepResult{}, fmt.Errorf("%s: %w", what, err)
}

// trustPolicy is the vended role's trust: the configured principals, the
// management account (for the smoke test and lessees' sessions), and a
// lease's own principals (extra). Trusted principals may set a
// SourceIdentity and session tags: OVM sets both on lessees' sessions.
func (p *Provider) trustPolicy(mgmtID string, extra ...string) string {
	principals := append([]string{"arn:aws:iam::" + mgmtID + ":root"}, p.cfg.TrustPrincipals...)
	return roleaccess.TrustPolicy(append(principals, extra...)...)
}

// TrustPolicy is the trust policy document of the vended role for a
// management account; exported for the docs and the recycler.
func (p *Provider) TrustPolicy(mgmtID string) string { return p.trustPolicy(mgmtID) }

// ensureRole creates the vended role, or resets its trust to the policy,
// and attaches its policies. It returns the role's ARN.
func (p *Provider) ensureRole(ctx context.Context, c iamAPI, mgmtID string) (string, error) {
	trust := p.trustPolicy(mgmtID)
	name := aws.String(p.cfg.RoleName)
	var arn string
	got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: name})
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		out, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: name, AssumeRolePolicyDocument: aws.String(trust),
			Description: aws.String("Vended by OVM"), MaxSessionDuration: aws.Int32(3600),
			Tags: []iamtypes.Tag{{Key: aws.String(TagManagedBy), Value: aws.String("ovm")}}})
		var exists *iamtypes.EntityAlreadyExistsException
		if errors.As(err, &exists) {
			return p.ensureRole(ctx, c, mgmtID) // created meanwhile: converge
		}
		if err != nil {
			return "", err
		}
		arn = deref(out.Role.Arn)
	case err != nil:
		return "", err
	default:
		arn = deref(got.Role.Arn)
		if !samePolicy(deref(got.Role.AssumeRolePolicyDocument), trust) {
			if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: name, PolicyDocument: aws.String(trust)}); err != nil {
				return "", err
			}
		}
	}
	for _, pol := range p.cfg.RolePolicyARNs {
		if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: name, PolicyArn: aws.String(pol)}); err != nil {
			return "", fmt.Errorf("attach %s: %w", pol, err)
		}
	}
	return arn, nil
}

// samePolicy compares two policy documents (IAM returns them URL-encoded).
func samePolicy(stored, want string) bool { return roleaccess.SamePolicy(stored, want) }

// Alias is the IAM account alias OVM gives account a (aws-nuke refuses
// accounts without one): lowercase letters, digits and hyphens.
func Alias(a *ovm.Account) string {
	s := strings.ToLower(strings.ReplaceAll(a.ID, "_", "-"))
	return strings.Trim(s, "-")
}

func (p *Provider) ensureAlias(ctx context.Context, c iamAPI, a *ovm.Account) error {
	out, err := c.ListAccountAliases(ctx, &iam.ListAccountAliasesInput{})
	if err != nil {
		return err
	}
	if len(out.AccountAliases) > 0 {
		return nil
	}
	_, err = c.CreateAccountAlias(ctx, &iam.CreateAccountAliasInput{AccountAlias: aws.String(Alias(a))})
	var exists *iamtypes.EntityAlreadyExistsException
	if errors.As(err, &exists) {
		return nil
	}
	return err
}

func (p *Provider) ensureOU(ctx context.Context, id, ou string) error {
	if ou == "" {
		return nil
	}
	out, err := p.c.Orgs.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(id)})
	if err != nil {
		return err
	}
	if len(out.Parents) == 0 {
		return fmt.Errorf("account %s has no parent", id)
	}
	from := deref(out.Parents[0].Id)
	if from == ou {
		return nil
	}
	_, err = p.c.Orgs.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id),
		SourceParentId: aws.String(from), DestinationParentId: aws.String(ou)})
	var dup *orgtypes.DuplicateAccountException
	if errors.As(err, &dup) {
		return nil
	}
	return err
}
