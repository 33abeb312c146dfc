package awsorgs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
)

// Every change of a template's guardrails makes a new SCP, and an
// organization holds a limited number of policies: CollectGuardrails
// deletes OVM's guardrail SCPs that no lease uses any more. A policy is
// OVM's when its name starts with guardPolicyPrefix and its tags say so
// (this pool, the template and version its name carries); the
// organization's own policies never match. An unused policy is first
// tagged with the time it was seen unused (guardUnusedTag), and deleted
// only when it is still unused cfg.GuardrailGrace later: a replica still
// running an older configuration may be about to attach it (and if it
// loses that race, Guard makes the policy again). AWS itself refuses to
// delete an attached policy.

// Tags of OVM's guardrail SCPs besides TagPool.
const (
	tagTemplate         = "ovm:template"
	tagGuardrailVersion = "ovm:guardrail-version"
	// guardUnusedTag holds when the policy was first seen unused (RFC 3339).
	guardUnusedTag = "ovm:unused-since"
)

var _ ovm.GuardrailCollector = (*Provider)(nil)

// CollectGuardrails implements ovm.GuardrailCollector.
func (p *Provider) CollectGuardrails(ctx context.Context, keep []ovm.Guard) (ovm.GuardrailCollection, error) {
	var res ovm.GuardrailCollection
	kept := map[string]bool{}
	for _, g := range keep {
		kept[guardPolicyName(g)] = true
	}
	own, err := p.ownGuardPolicies(ctx)
	if err != nil {
		return res, err
	}
	now := p.clock.Now()
	for _, s := range own {
		name, id := deref(s.Name), deref(s.Id)
		inUse := kept[name]
		if !inUse {
			out, err := p.c.Orgs.ListTargetsForPolicy(ctx, &organizations.ListTargetsForPolicyInput{PolicyId: s.Id})
			var nf *orgtypes.PolicyNotFoundException
			switch {
			case errors.As(err, &nf):
				continue // deleted meanwhile
			case err != nil:
				return res, fmt.Errorf("list the targets of SCP %s: %w", name, err)
			}
			inUse = len(out.Targets) > 0
		}
		since, marked := s.unusedSince()
		switch {
		case inUse && marked:
			// In use again: its grace starts anew next time it is unused.
			if _, err := p.c.Orgs.UntagResource(ctx, &organizations.UntagResourceInput{ResourceId: aws.String(id),
				TagKeys: []string{guardUnusedTag}}); err != nil {
				return res, fmt.Errorf("untag SCP %s: %w", name, err)
			}
		case inUse:
		case !marked:
			// TagPool is sent again: OVM's role may tag only its pool's SCPs.
			if _, err := p.c.Orgs.TagResource(ctx, &organizations.TagResourceInput{ResourceId: aws.String(id), Tags: []orgtypes.Tag{
				{Key: aws.String(TagPool), Value: aws.String(p.cfg.Pool)},
				{Key: aws.String(guardUnusedTag), Value: aws.String(now.UTC().Format(time.RFC3339))}}}); err != nil {
				return res, fmt.Errorf("tag SCP %s unused: %w", name, err)
			}
			res.Unused = append(res.Unused, name)
		case now.Sub(since) < p.cfg.GuardrailGrace:
		default:
			_, err := p.c.Orgs.DeletePolicy(ctx, &organizations.DeletePolicyInput{PolicyId: aws.String(id)})
			var inUseErr *orgtypes.PolicyInUseException
			var nf *orgtypes.PolicyNotFoundException
			switch {
			case errors.As(err, &inUseErr):
				continue // attached since it was listed: untagged next time
			case errors.As(err, &nf):
			case err != nil:
				return res, fmt.Errorf("delete SCP %s: %w", name, err)
			}
			p.forgetGuardPolicy(name)
			p.log.Info("guardrail SCP no lease uses deleted", ovm.LogPool, p.cfg.Pool, ovm.LogPolicy, name,
				"unused_since", since.UTC().Format(time.RFC3339))
			res.Deleted = append(res.Deleted, name)
		}
	}
	return res, nil
}

// guardSCP is one of OVM's guardrail SCPs of the pool, with its tags.
type guardSCP struct {
	orgtypes.PolicySummary
	tags map[string]string
}

// unusedSince returns when the policy was first seen unused, if marked.
func (s guardSCP) unusedSince() (time.Time, bool) {
	v, ok := s.tags[guardUnusedTag]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, false // marked again, by this run's clock
	}
	return t, true
}

// ownGuardPolicies lists OVM's guardrail SCPs of this pool: the name's
// prefix, the pool's tag, and a name that is the one its template and
// version tags make.
func (p *Provider) ownGuardPolicies(ctx context.Context) ([]guardSCP, error) {
	var out []guardSCP
	pager := organizations.NewListPoliciesPaginator(p.c.Orgs, &organizations.ListPoliciesInput{Filter: orgtypes.PolicyTypeServiceControlPolicy})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list SCPs: %w", err)
		}
		for _, s := range page.Policies {
			name := deref(s.Name)
			if !strings.HasPrefix(name, guardPolicyPrefix) || s.AwsManaged {
				continue
			}
			tags, err := p.policyTags(ctx, deref(s.Id))
			var nf *orgtypes.TargetNotFoundException
			switch {
			case errors.As(err, &nf):
				continue // deleted meanwhile
			case err != nil:
				return nil, fmt.Errorf("list the tags of SCP %s: %w", name, err)
			}
			g := ovm.Guard{Template: tags[tagTemplate], Version: tags[tagGuardrailVersion]}
			if tags[TagPool] != p.cfg.Pool || g.Template == "" || g.Version == "" || guardPolicyName(g) != name {
				continue
			}
			out = append(out, guardSCP{PolicySummary: s, tags: tags})
		}
	}
	return out, nil
}

func (p *Provider) policyTags(ctx context.Context, id string) (map[string]string, error) {
	tags := map[string]string{}
	pager := organizations.NewListTagsForResourcePaginator(p.c.Orgs, &organizations.ListTagsForResourceInput{ResourceId: aws.String(id)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, t := range page.Tags {
			tags[deref(t.Key)] = deref(t.Value)
		}
	}
	return tags, nil
}
