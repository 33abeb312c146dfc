package awsorgs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
)

// A template's guardrails are one SCP per template and version, made and
// named by OVM (guardPolicyName), tagged, and attached to each leased
// account with the organization's own policies the template names; they
// are detached after the lease's revocation. The policy is found by its
// name before it is made, so a call whose answer was lost, or a replica
// killed before recording it, never makes a second one.

// guardPolicyPrefix starts the name of every guardrail SCP OVM makes.
const guardPolicyPrefix = "ovm-guard-"

// guardPolicyName is the SCP of g's template and version.
func guardPolicyName(g ovm.Guard) string { return guardPolicyPrefix + g.Template + "-" + g.Version }

// findPolicy returns the id of the SCP named name, or "".
func (p *Provider) findPolicy(ctx context.Context, name string) (string, error) {
	pager := organizations.NewListPoliciesPaginator(p.c.Orgs, &organizations.ListPoliciesInput{Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list SCPs: %w", err)
		}
		for _, s := range page.Policies {
			if deref(s.Name) == name {
				return deref(s.Id), nil
			}
		}
	}
	return "", nil
}

// guardPolicy returns the id of g's SCP, making it the first time and
// correcting a content changed outside OVM.
func (p *Provider) guardPolicy(ctx context.Context, g ovm.Guard) (string, error) {
	return p.ownPolicy(ctx, guardPolicyName(g), g.Document,
		"OVM: the guardrails of template "+g.Template+" (version "+g.Version+"); spares "+p.cfg.CreationRole,
		[]orgtypes.Tag{{Key: aws.String("ovm:template"), Value: aws.String(g.Template)},
			{Key: aws.String("ovm:guardrail-version"), Value: aws.String(g.Version)}, {Key: aws.String("ovm:pool"), Value: aws.String(p.cfg.Pool)}})
}

// ownPolicy returns the id of OVM's SCP named name, making it with
// document the first time (found by its name after a lost answer, or when
// another replica made it) and correcting a content changed outside OVM.
func (p *Provider) ownPolicy(ctx context.Context, name, document, description string, tags []orgtypes.Tag) (string, error) {
	p.mu.Lock()
	id := p.guardIDs[name]
	p.mu.Unlock()
	if id == "" {
		var err error
		if id, err = p.findPolicy(ctx, name); err != nil {
			return "", err
		}
	}
	if id == "" {
		out, err := p.c.Orgs.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String(name), Content: aws.String(document),
			Description: aws.String(description), Type: orgtypes.PolicyTypeServiceControlPolicy, Tags: tags})
		var dup *orgtypes.DuplicatePolicyException
		switch {
		case errors.As(err, &dup): // made meanwhile, by another replica
			if id, err = p.findPolicy(ctx, name); err != nil || id == "" {
				return "", fmt.Errorf("SCP %s exists but cannot be found: %v", name, err)
			}
		case err != nil:
			return "", fmt.Errorf("create SCP %s: %w", name, err)
		default:
			id = deref(out.Policy.PolicySummary.Id)
		}
	} else {
		got, err := p.c.Orgs.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(id)})
		var nf *orgtypes.PolicyNotFoundException
		if errors.As(err, &nf) { // deleted outside OVM since it was cached
			p.forgetGuardPolicy(name)
			return p.ownPolicy(ctx, name, document, description, tags)
		}
		if err != nil {
			return "", fmt.Errorf("describe SCP %s: %w", name, err)
		}
		if !samePolicy(deref(got.Policy.Content), document) {
			if _, err := p.c.Orgs.UpdatePolicy(ctx, &organizations.UpdatePolicyInput{PolicyId: aws.String(id), Content: aws.String(document)}); err != nil {
				return "", fmt.Errorf("correct SCP %s: %w", name, err)
			}
		}
	}
	p.mu.Lock()
	p.guardIDs[name] = id
	p.mu.Unlock()
	return id, nil
}

func (p *Provider) forgetGuardPolicy(name string) {
	p.mu.Lock()
	delete(p.guardIDs, name)
	p.mu.Unlock()
}

// attachedSCPs returns the ids of the SCPs attached to a.
func (p *Provider) attachedSCPs(ctx context.Context, a *ovm.Account) ([]orgtypes.PolicySummary, error) {
	var out []orgtypes.PolicySummary
	pager := organizations.NewListPoliciesForTargetPaginator(p.c.Orgs, &organizations.ListPoliciesForTargetInput{
		TargetId: aws.String(a.AWSAccountID), Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the SCPs of %s: %w", a.AWSAccountID, err)
		}
		out = append(out, page.Policies...)
	}
	return out, nil
}

// errGuardPolicyGone is an attach of OVM's own SCP that AWS refused as
// not found: deleted between its lookup and the attach (an older version
// collected by CollectGuardrails, or deleted by hand).
var errGuardPolicyGone = errors.New("OVM's guardrail SCP vanished before it was attached")

// Guard implements ovm.Guardrailer: g's SCP (made once) and the
// organization's policies g names are attached to a. An SCP of OVM's that
// vanishes between its lookup and its attach (collected meanwhile) is made
// again, so that such a race never fails the vend.
func (p *Provider) Guard(ctx context.Context, a *ovm.Account, g ovm.Guard) error {
	for attempt := 1; ; attempt++ {
		err := p.guard(ctx, a, g)
		if !errors.Is(err, errGuardPolicyGone) || attempt == 3 {
			return err
		}
		p.log.Info("guardrail SCP deleted while it was being attached; making it again", ovm.LogPolicy, guardPolicyName(g),
			ovm.LogAccountID, a.ID)
		p.forgetGuardPolicy(guardPolicyName(g))
	}
}

func (p *Provider) guard(ctx context.Context, a *ovm.Account, g ovm.Guard) error {
	ids := slices.Clone(g.PolicyIDs)
	if g.Document != "" {
		id, err := p.guardPolicy(ctx, g)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	attached, err := p.attachedSCPs(ctx, a)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if slices.ContainsFunc(attached, func(s orgtypes.PolicySummary) bool { return deref(s.Id) == id }) {
			continue
		}
		_, err := p.c.Orgs.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: aws.String(id), TargetId: aws.String(a.AWSAccountID)})
		var dup *orgtypes.DuplicatePolicyAttachmentException
		var nf *orgtypes.PolicyNotFoundException
		switch {
		case errors.As(err, &dup):
		case errors.As(err, &nf) && slices.Contains(g.PolicyIDs, id):
			return fmt.Errorf("the organization's SCP %s (a guardrails.policies entry of template %s) does not exist", id, g.Template)
		case errors.As(err, &nf):
			return fmt.Errorf("attach SCP %s to %s: %w", guardPolicyName(g), a.AWSAccountID, errGuardPolicyGone)
		case err != nil:
			return fmt.Errorf("attach SCP %s to %s: %w", id, a.AWSAccountID, err)
		}
	}
	return nil
}

// GuardCheck implements ovm.Guardrailer: every policy of g attached, OVM's
// with g's content.
func (p *Provider) GuardCheck(ctx context.Context, a *ovm.Account, g ovm.Guard) (string, error) {
	attached, err := p.attachedSCPs(ctx, a)
	if err != nil {
		return "", err
	}
	var missing []string
	for _, id := range g.PolicyIDs {
		if !slices.ContainsFunc(attached, func(s orgtypes.PolicySummary) bool { return deref(s.Id) == id }) {
			missing = append(missing, id)
		}
	}
	if g.Document != "" {
		name := guardPolicyName(g)
		i := slices.IndexFunc(attached, func(s orgtypes.PolicySummary) bool { return deref(s.Name) == name })
		if i < 0 {
			missing = append(missing, name)
		} else {
			got, err := p.c.Orgs.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: attached[i].Id})
			if err != nil {
				return "", fmt.Errorf("describe SCP %s: %w", name, err)
			}
			if !samePolicy(deref(got.Policy.Content), g.Document) {
				return "SCP " + name + " was changed", nil
			}
		}
	}
	if len(missing) > 0 {
		return "not attached: " + strings.Join(missing, ", "), nil
	}
	return "", nil
}

// Unguard implements ovm.Guardrailer: OVM's SCPs of g's template and the
// organization's policies g names are detached from a (OVM's policy itself
// stays, for the template's other leases).
func (p *Provider) Unguard(ctx context.Context, a *ovm.Account, g ovm.Guard) (ovm.StepResult, error) {
	attached, err := p.attachedSCPs(ctx, a)
	if err != nil {
		return ovm.StepResult{}, err
	}
	var detached []string
	for _, s := range attached {
		name, id := deref(s.Name), deref(s.Id)
		if !strings.HasPrefix(name, guardPolicyPrefix+g.Template+"-") && !slices.Contains(g.PolicyIDs, id) {
			continue
		}
		_, err := p.c.Orgs.DetachPolicy(ctx, &organizations.DetachPolicyInput{PolicyId: aws.String(id), TargetId: aws.String(a.AWSAccountID)})
		var na *orgtypes.PolicyNotAttachedException
		if err != nil && !errors.As(err, &na) {
			return ovm.StepResult{}, fmt.Errorf("detach SCP %s from %s: %w", name, a.AWSAccountID, err)
		}
		detached = append(detached, name)
	}
	return ovm.StepResult{Status: ovm.StepDone, Report: "detached: " + orNone(detached)}, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
