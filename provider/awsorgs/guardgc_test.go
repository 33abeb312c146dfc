package awsorgs

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/providertest"
)

// gcOrg is a moto organization with a provider of pool conformance on an
// injected clock, and the management account's Organizations client.
type gcOrg struct {
	t     *testing.T
	p     *Provider
	orgs  *organizations.Client
	clock *clocktest.Clock
}

func newGCOrg(t *testing.T) *gcOrg {
	cfg := motoOrg(t)
	clock := clocktest.New(t0)
	return &gcOrg{t: t, p: newProvider(t, Config{}, NewClients(cfg), clock), orgs: organizations.NewFromConfig(cfg), clock: clock}
}

// version is guardrails of template t at version v (12 hex), with a
// document of its own.
func version(t, v string) ovm.Guard {
	return ovm.Guard{Template: t, Version: v,
		Document: `{"Version":"2012-10-17","Statement":[{"Sid":"V` + v + `","Effect":"Deny","Action":"ec2:RunInstances","Resource":"*"}]}`}
}

// member makes an account of the organization, as a leased account is.
func (o *gcOrg) member() *ovm.Account {
	o.t.Helper()
	a := providertest.NewAccount(o.p)
	r, err := o.p.Create(context.Background(), a)
	if err != nil || r.AWSAccountID == "" {
		o.t.Fatalf("create: %+v %v", r, err)
	}
	a.AWSAccountID = r.AWSAccountID
	return a
}

func (o *gcOrg) guard(a *ovm.Account, g ovm.Guard) {
	o.t.Helper()
	if err := o.p.Guard(context.Background(), a, g); err != nil {
		o.t.Fatalf("guard: %v", err)
	}
}

func (o *gcOrg) unguard(a *ovm.Account, g ovm.Guard) {
	o.t.Helper()
	if r, err := o.p.Unguard(context.Background(), a, g); err != nil || r.Status != ovm.StepDone {
		o.t.Fatalf("unguard: %+v %v", r, err)
	}
}

func (o *gcOrg) collect(keep ...ovm.Guard) ovm.GuardrailCollection {
	o.t.Helper()
	res, err := o.p.CollectGuardrails(context.Background(), keep)
	if err != nil {
		o.t.Fatalf("collect: %v", err)
	}
	return res
}

// policy returns the id and tags of the SCP named name ("" when there is
// none).
func (o *gcOrg) policy(name string) (string, map[string]string) {
	o.t.Helper()
	ctx := context.Background()
	out, err := o.orgs.ListPolicies(ctx, &organizations.ListPoliciesInput{Filter: types.PolicyTypeServiceControlPolicy})
	if err != nil {
		o.t.Fatal(err)
	}
	for _, s := range out.Policies {
		if deref(s.Name) != name {
			continue
		}
		tags, err := o.p.policyTags(ctx, deref(s.Id))
		if err != nil {
			o.t.Fatal(err)
		}
		return deref(s.Id), tags
	}
	return "", nil
}

// An older version still attached to a leased account stays, and is not
// even marked unused, however long it waits.
func TestAnOldGuardrailVersionAttachedToALeasedAccountIsKept(t *testing.T) {
	o := newGCOrg(t)
	v1, v2 := version("eu-only", "aaaaaaaaaaa1"), version("eu-only", "aaaaaaaaaaa2")
	a := o.member()
	o.guard(a, v1) // the lease was vended before the template changed
	for range 3 {
		if res := o.collect(v2); len(res.Unused)+len(res.Deleted) > 0 {
			t.Fatalf("collected %+v", res)
		}
		o.clock.Advance(2 * time.Hour)
	}
	id, tags := o.policy(guardPolicyName(v1))
	if id == "" {
		t.Fatal("the attached old version was deleted")
	}
	if _, marked := tags[guardUnusedTag]; marked {
		t.Fatalf("the attached old version is marked unused: %v", tags)
	}
	if problem, err := o.p.GuardCheck(context.Background(), a, v1); err != nil || problem != "" {
		t.Fatalf("guard check: %q %v", problem, err)
	}
}

// An old version no account has attached is marked at first sight and
// deleted only once the grace is over; one seen in use again starts its
// grace anew.
func TestAnUnattachedOldVersionIsDeletedOnlyAfterTheGrace(t *testing.T) {
	o := newGCOrg(t)
	v1, v2 := version("eu-only", "bbbbbbbbbbb1"), version("eu-only", "bbbbbbbbbbb2")
	name := guardPolicyName(v1)
	a := o.member()
	o.guard(a, v1)
	o.unguard(a, v1) // the lease ended

	if res := o.collect(v2); !slices.Equal(res.Unused, []string{name}) || len(res.Deleted) > 0 {
		t.Fatalf("first sight: %+v", res)
	}
	if _, tags := o.policy(name); tags[guardUnusedTag] != t0.UTC().Format(time.RFC3339) {
		t.Fatalf("tags after the first sight: %v", tags)
	}
	// Attached again (a replica with the old configuration vended it):
	// the mark goes, and the grace starts anew when it is unused again.
	o.clock.Advance(50 * time.Minute)
	o.guard(a, v1)
	o.collect(v2)
	if _, tags := o.policy(name); tags[guardUnusedTag] != "" {
		t.Fatalf("still marked while attached: %v", tags)
	}
	o.unguard(a, v1)
	o.clock.Advance(20 * time.Minute) // 70 minutes after the first mark
	if res := o.collect(v2); !slices.Equal(res.Unused, []string{name}) {
		t.Fatalf("unused again: %+v", res)
	}
	o.clock.Advance(59 * time.Minute)
	if res := o.collect(v2); len(res.Deleted) > 0 {
		t.Fatalf("deleted 59 minutes after its mark: %+v", res)
	}
	if id, _ := o.policy(name); id == "" {
		t.Fatal("deleted within the grace")
	}
	o.clock.Advance(time.Minute)
	if res := o.collect(v2); !slices.Equal(res.Deleted, []string{name}) {
		t.Fatalf("after the grace: %+v", res)
	}
	if id, _ := o.policy(name); id != "" {
		t.Fatal("the old version is still there after the grace")
	}
}

// The current version of a template stays even with no lease of it: a
// vend may be about to attach it.
func TestTheCurrentGuardrailVersionIsNeverDeleted(t *testing.T) {
	o := newGCOrg(t)
	v2 := version("eu-only", "ccccccccccc2")
	a := o.member()
	o.guard(a, v2)
	o.unguard(a, v2)
	for range 3 {
		if res := o.collect(v2); len(res.Unused)+len(res.Deleted) > 0 {
			t.Fatalf("collected %+v", res)
		}
		o.clock.Advance(2 * time.Hour)
	}
	if id, tags := o.policy(guardPolicyName(v2)); id == "" || tags[guardUnusedTag] != "" {
		t.Fatalf("the current version: %q %v", id, tags)
	}
}

// The organization's own SCPs, another pool's and one named like OVM's but
// not tagged as OVM's are never touched, attached or not.
func TestAnOperatorsPolicyIsNeverTouched(t *testing.T) {
	o := newGCOrg(t)
	ctx := context.Background()
	doc := version("x", "0").Document
	mk := func(name string, tags ...types.Tag) {
		t.Helper()
		if _, err := o.orgs.CreatePolicy(ctx, &organizations.CreatePolicyInput{Name: aws.String(name), Content: aws.String(doc),
			Description: aws.String("the operator's"), Type: types.PolicyTypeServiceControlPolicy, Tags: tags}); err != nil {
			t.Fatal(err)
		}
	}
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	mk("org-no-leaving")
	mk("ovm-guard-eu-only-ddddddddddd1") // named like OVM's, no tags
	mk("ovm-guard-eu-only-ddddddddddd2", tag(TagPool, "other"), tag(tagTemplate, "eu-only"), tag(tagGuardrailVersion, "ddddddddddd2"))
	mk("ovm-guard-eu-only-ddddddddddd3", tag(TagPool, "conformance"), tag(tagTemplate, "eu-only"), tag(tagGuardrailVersion, "ffffffffffff"))
	for range 3 {
		if res := o.collect(); len(res.Unused)+len(res.Deleted) > 0 {
			t.Fatalf("collected %+v", res)
		}
		o.clock.Advance(2 * time.Hour)
	}
	for _, name := range []string{"org-no-leaving", "ovm-guard-eu-only-ddddddddddd1", "ovm-guard-eu-only-ddddddddddd2", "ovm-guard-eu-only-ddddddddddd3"} {
		if id, tags := o.policy(name); id == "" || tags[guardUnusedTag] != "" {
			t.Errorf("%s: %q %v", name, id, tags)
		}
	}
}

// raceOrgs runs before (once set), once, just before an attach of the
// SCP named name: what another replica's collection does in that instant.
type raceOrgs struct {
	orgsAPI
	name   string
	once   sync.Once
	before func()
}

func (r *raceOrgs) AttachPolicy(ctx context.Context, in *organizations.AttachPolicyInput, f ...func(*organizations.Options)) (*organizations.AttachPolicyOutput, error) {
	d, err := r.orgsAPI.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: in.PolicyId})
	if err == nil && deref(d.Policy.PolicySummary.Name) == r.name && r.before != nil {
		r.once.Do(r.before)
	}
	return r.orgsAPI.AttachPolicy(ctx, in, f...)
}

// A replica still configured with the old version vends it while the
// collecting replica deletes it, between the vend's lookup of the policy
// and its attach: the vend makes it again, and the lease has it.
func TestAVendRacingTheDeletionStillEndsWithItsGuardrail(t *testing.T) {
	cfg := motoOrg(t)
	clock := clocktest.New(t0)
	collector := newProvider(t, Config{}, NewClients(cfg), clock)
	race := &raceOrgs{orgsAPI: NewClients(cfg).Orgs}
	c := NewClients(cfg)
	c.Orgs = race
	vendor := newProvider(t, Config{}, c, clock)
	o := &gcOrg{t: t, p: vendor, orgs: organizations.NewFromConfig(cfg), clock: clock}

	v1, v2 := version("eu-only", "eeeeeeeeeee1"), version("eu-only", "eeeeeeeeeee2")
	race.name = guardPolicyName(v1)
	a, b := o.member(), o.member()
	o.guard(a, v1) // the vendor knows v1's id from now on
	o.unguard(a, v1)
	ctx := context.Background()
	if _, err := collector.CollectGuardrails(ctx, []ovm.Guard{v2}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	var deleted []string
	race.before = func() {
		res, err := collector.CollectGuardrails(ctx, []ovm.Guard{v2})
		if err != nil {
			t.Errorf("collect: %v", err)
		}
		deleted = res.Deleted
	}
	if err := vendor.Guard(ctx, b, v1); err != nil {
		t.Fatalf("the vend racing the deletion: %v", err)
	}
	if !slices.Equal(deleted, []string{race.name}) {
		t.Fatalf("the race did not happen: the collector deleted %v", deleted)
	}
	if problem, err := vendor.GuardCheck(ctx, b, v1); err != nil || problem != "" {
		t.Fatalf("the lease's guardrail after the race: %q %v", problem, err)
	}
}
