package awsorgs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/provider/roleaccess"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
)

var _ ovm.Access = (*Provider)(nil)

// Credentials implements ovm.Access: the management account assumes the
// vended role with the lessee's session name, SourceIdentity and session
// tags, for the lease's time left within [15m, the role's hour]
// (roleaccess.Session).
func (p *Provider) Credentials(ctx context.Context, a *ovm.Account, r ovm.SessionRequest) (*ovm.Credentials, error) {
	if _, _, err := p.org(ctx); err != nil {
		return nil, err
	}
	return roleaccess.Session(ctx, p.c.STS, a.RoleARN, r, p.cfg.Region, p.chained())
}

// chained reports whether OVM's own credentials are a role session, which
// makes every session it assumes a chained one.
func (p *Provider) chained() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return roleaccess.Chained(p.callerARN)
}

// SetFederation makes the provider build console sign-in URLs through f.
func (p *Provider) SetFederation(f *federation.Client) { p.fed = f }

// ConsoleURL implements ovm.Access through the federation endpoint.
func (p *Provider) ConsoleURL(ctx context.Context, c *ovm.Credentials, destination string, session time.Duration) (string, error) {
	if p.fed == nil {
		return "", errors.New("no federation endpoint configured")
	}
	return p.fed.SigninURL(ctx, c, destination, session)
}

var _ ovm.TrustRepairer = (*Provider)(nil)

// RepairTrust implements ovm.TrustRepairer through the creation role
// (roleaccess.RepairTrust).
func (p *Provider) RepairTrust(ctx context.Context, a *ovm.Account) (bool, error) {
	c := p.c.IAMFor(p.assume(ovm.RoleARN(a.AWSAccountID, p.cfg.CreationRole), "ovm-trust", p.c.STS))
	return roleaccess.RepairTrust(ctx, c, p.cfg.RoleName)
}

// Grant implements ovm.Access: the vended role trusts principal besides
// the pool's own principals, until Revoke resets the trust.
func (p *Provider) Grant(ctx context.Context, a *ovm.Account, principal string) error {
	_, mgmtID, err := p.org(ctx)
	if err != nil {
		return err
	}
	c := p.c.IAMFor(p.assume(ovm.RoleARN(a.AWSAccountID, p.cfg.CreationRole), "ovm-access", p.c.STS))
	_, err = c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(p.cfg.RoleName),
		PolicyDocument: aws.String(p.trustPolicy(mgmtID, principal))})
	return err
}

// Revoke implements ovm.Access. Each part converges when run again:
//   - the inline deny roleaccess.PolicyName on the vended role for sessions
//     issued before r.Before (aws:TokenIssueTime);
//   - the role's trust back to the pool's principals (no lease principal);
//   - with organizations.retiring_ou, the account moved there, under the
//     SCP that denies everything but OVM's creation role.
func (p *Provider) Revoke(ctx context.Context, a *ovm.Account, r ovm.Revocation) (ovm.StepResult, error) {
	_, mgmtID, err := p.org(ctx)
	if err != nil {
		return ovm.StepResult{}, err
	}
	if r.Before.IsZero() {
		return ovm.Failed("the revocation names no lease end"), nil
	}
	c := p.c.IAMFor(p.assume(ovm.RoleARN(a.AWSAccountID, p.cfg.CreationRole), "ovm-revoke", p.c.STS))
	if err := roleaccess.DenyBefore(ctx, c, p.cfg.RoleName, r.Before); err != nil {
		return ovm.StepResult{}, fmt.Errorf("deny older sessions: %w", err)
	}
	if _, err := p.ensureRole(ctx, c, mgmtID); err != nil {
		return ovm.StepResult{}, fmt.Errorf("reset the trust: %w", err)
	}
	report := fmt.Sprintf("sessions of %s issued before %s denied, trust reset", p.cfg.RoleName, roleaccess.DenyTime(r.Before).Format(time.RFC3339))
	if p.cfg.RetiringOU != "" {
		if err := p.ensureRetiringSCP(ctx); err != nil {
			return ovm.StepResult{}, fmt.Errorf("retiring OU %s: %w", p.cfg.RetiringOU, err)
		}
		if err := p.ensureOU(ctx, a.AWSAccountID, p.cfg.RetiringOU); err != nil {
			return ovm.StepResult{}, fmt.Errorf("move to the retiring OU %s: %w", p.cfg.RetiringOU, err)
		}
		report += ", moved to the retiring OU " + p.cfg.RetiringOU
	}
	return ovm.StepResult{Status: ovm.StepDone, Report: report}, nil
}

// RetiringSCP is the service control policy of the retiring OU: nothing is
// allowed in its accounts but to OVM's creation role (cleaning, closing).
// IAM users, access keys and roles a lessee made stop working.
func (p *Provider) RetiringSCP() string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "DenyAllButOVM", "Effect": "Deny", "Action": "*", "Resource": "*",
		"Condition": map[string]any{"ArnNotLike": map[string]string{
			"aws:PrincipalARN": "arn:aws:iam::*:role/" + p.cfg.CreationRole}}}}})
	return string(b)
}

// retiringSCPName names the SCP OVM makes for a pool's retiring OU.
func (p *Provider) retiringSCPName() string { return "ovm-retiring-" + p.cfg.Pool }

// ensureRetiringSCP makes sure the retiring OU is under the SCP: with
// organizations.retiring_scp set, that policy must be attached to the OU
// (OVM checks it, never changes it); else OVM creates its own, keeps its
// content as RetiringSCP and attaches it. Checked once per process.
func (p *Provider) ensureRetiringSCP(ctx context.Context) error {
	p.mu.Lock()
	done := p.scpChecked
	p.mu.Unlock()
	if done {
		return nil
	}
	var attached []orgtypes.PolicySummary
	pager := organizations.NewListPoliciesForTargetPaginator(p.c.Orgs, &organizations.ListPoliciesForTargetInput{
		TargetId: aws.String(p.cfg.RetiringOU), Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list its SCPs: %w", err)
		}
		attached = append(attached, page.Policies...)
	}
	byID := func(id string) bool {
		return slices.ContainsFunc(attached, func(s orgtypes.PolicySummary) bool { return deref(s.Id) == id })
	}
	if p.cfg.RetiringSCP != "" {
		if !byID(p.cfg.RetiringSCP) {
			return fmt.Errorf("the SCP %s (organizations.retiring_scp) is not attached to it", p.cfg.RetiringSCP)
		}
	} else if err := p.ownRetiringSCP(ctx, attached); err != nil {
		return err
	}
	p.mu.Lock()
	p.scpChecked = true
	p.mu.Unlock()
	return nil
}

// ownRetiringSCP creates, corrects and attaches OVM's own SCP.
func (p *Provider) ownRetiringSCP(ctx context.Context, attached []orgtypes.PolicySummary) error {
	name, want := p.retiringSCPName(), p.RetiringSCP()
	var id string
	pager := organizations.NewListPoliciesPaginator(p.c.Orgs, &organizations.ListPoliciesInput{Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for pager.HasMorePages() && id == "" {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list SCPs: %w", err)
		}
		for _, s := range page.Policies {
			if deref(s.Name) == name {
				id = deref(s.Id)
			}
		}
	}
	if id == "" {
		out, err := p.c.Orgs.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String(name), Content: aws.String(want),
			Description: aws.String("OVM: accounts whose lease ended; only " + p.cfg.CreationRole + " may act"),
			Type:        orgtypes.PolicyTypeServiceControlPolicy})
		var dup *orgtypes.DuplicatePolicyException
		if errors.As(err, &dup) {
			return fmt.Errorf("SCP %s was created meanwhile; try again", name)
		}
		if err != nil {
			return fmt.Errorf("create SCP %s: %w", name, err)
		}
		id = deref(out.Policy.PolicySummary.Id)
	} else {
		got, err := p.c.Orgs.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(id)})
		if err != nil {
			return fmt.Errorf("describe SCP %s: %w", name, err)
		}
		if !samePolicy(deref(got.Policy.Content), want) {
			if _, err := p.c.Orgs.UpdatePolicy(ctx, &organizations.UpdatePolicyInput{PolicyId: aws.String(id), Content: aws.String(want)}); err != nil {
				return fmt.Errorf("correct SCP %s: %w", name, err)
			}
		}
	}
	if slices.ContainsFunc(attached, func(s orgtypes.PolicySummary) bool { return deref(s.Id) == id }) {
		return nil
	}
	_, err := p.c.Orgs.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: aws.String(id), TargetId: aws.String(p.cfg.RetiringOU)})
	var dup *orgtypes.DuplicatePolicyAttachmentException
	if errors.As(err, &dup) {
		return nil
	}
	return err
}

// leaveRetiringOU moves a recycled account back where bootstrap put it
// (organizations.parent_ou, or the root) before it is ready again.
func (p *Provider) leaveRetiringOU(ctx context.Context, a *ovm.Account) error {
	if p.cfg.RetiringOU == "" {
		return nil
	}
	home := p.cfg.ParentOU
	if home == "" {
		out, err := p.c.Orgs.ListRoots(ctx, &organizations.ListRootsInput{})
		if err != nil {
			return err
		}
		if len(out.Roots) == 0 {
			return errors.New("the organization has no root")
		}
		home = deref(out.Roots[0].Id)
	}
	return p.ensureOU(ctx, a.AWSAccountID, home)
}
