package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// templateTests are the cases of the limits a template sets: per owner
// and per team, exact under concurrent vends.
var templateTests = []testCase{
	{"a lease keeps its template, team and terms", testLeaseKeepsItsTerms},
	{"concurrent vends of one owner stop exactly at the template's limit", testConcurrentTemplateOwnerLimit},
	{"concurrent vends of one team's members stop exactly at the team's limit", testConcurrentTeamLimit},
	{"a vend the team's limit refuses takes no slot of the owner's limits", testTeamRefusalTakesNoOwnerSlot},
}

// tplVend is one vend of template tpl ("sandbox" when empty) in pool p1.
type tplVend struct {
	owner, team, tpl     string
	ownerLimit, tplLimit int
	teamLimit            int
	now                  time.Time
}

func (v tplVend) do(s ovm.Store) (*ovm.Lease, error) {
	tpl := v.tpl
	if tpl == "" {
		tpl = "sandbox"
	}
	now := v.now
	if now.IsZero() {
		now = T0
	}
	terms := &ovm.LeaseTerms{Template: tpl, Lease: ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, MinTTL: time.Minute, MaxPerOwner: v.tplLimit},
		MaxPerTeam: v.teamLimit, Guardrails: ovm.Guardrails{Regions: []string{"eu-west-1"}}, GuardrailVersion: "0123456789ab",
		GuardrailDocument: `{"Version":"2012-10-17","Statement":[]}`}
	return s.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: "p1",
		Owner: v.owner, Now: now, ExpiresAt: now.Add(time.Hour), OwnerLimit: v.ownerLimit,
		Template: tpl, Terms: terms, TemplateOwnerLimit: v.tplLimit, Team: v.team, TeamLimit: v.teamLimit})
}

func testLeaseKeepsItsTerms(t *testing.T, s ovm.Store) {
	Ready(t, s, "p1", T0)
	l, err := tplVend{owner: "alice", team: "platform", tplLimit: 2, teamLimit: 3}.do(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.LeaseGet(context.Background(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Template != "sandbox" || got.Team != "platform" || got.Terms == nil || got.Terms.Lease.MaxTTL != 2*time.Hour ||
		got.Terms.MaxPerTeam != 3 || len(got.Terms.Guardrails.Regions) != 1 || got.Terms.GuardrailVersion != "0123456789ab" {
		t.Fatalf("lease as stored: %+v, terms %+v", got, got.Terms)
	}
	// The vend's own write marks the guardrails the account must have
	// before the lease gives access (ovm.LeaseAccount).
	a, err := s.AccountGet(context.Background(), l.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := ovm.GuardOf(a); !ok || g.Version != "0123456789ab" || g.Template != "sandbox" || ovm.Guarded(a) {
		t.Fatalf("the leased account's guard %+v (wanted %v, in place %v)", g, ok, ovm.Guarded(a))
	}
	// The store keeps its own copy: changing the answer changes nothing.
	got.Terms.Guardrails.Regions[0] = "us-east-1"
	if again, _ := s.LeaseGet(context.Background(), l.ID); again.Terms.Guardrails.Regions[0] != "eu-west-1" {
		t.Fatal("a caller changed the stored terms through an answer")
	}
	// Lists filter by team and template.
	for _, c := range []struct {
		p    ovm.LeaseListParams
		want int
	}{{ovm.LeaseListParams{Team: "platform"}, 1}, {ovm.LeaseListParams{Team: "data"}, 0},
		{ovm.LeaseListParams{Template: "sandbox", Owner: "alice"}, 1}, {ovm.LeaseListParams{Template: "other"}, 0}} {
		got, _, err := s.LeaseList(context.Background(), &c.p)
		if err != nil || len(got) != c.want {
			t.Fatalf("lease list %+v: %d leases (%v), want %d", c.p, len(got), err, c.want)
		}
	}
	// A lease made without a template has none.
	Ready(t, s, "p1", T0)
	plain, err := vend(s, "p1", "bob", T0, 0)
	if err != nil || plain.Template != "" || plain.Terms != nil || plain.Team != "" {
		t.Fatalf("a vend without a template: %+v %v", plain, err)
	}
}

func testConcurrentTemplateOwnerLimit(t *testing.T, s ovm.Store) {
	const stock, clients, limit = 10, 12, 3
	for range stock {
		Ready(t, s, "p1", T0)
	}
	granted, limited := vendAtOnce(t, clients, ovm.ErrTemplateLeaseLimit, func() (*ovm.Lease, error) {
		return tplVend{owner: "alice", tplLimit: limit}.do(s)
	})
	if len(granted) != limit || limited != clients-limit {
		t.Fatalf("%d leases granted and %d refused to one owner with a template limit of %d", len(granted), limited, limit)
	}
	if n := readyCount(t, s, "p1"); n != stock-limit {
		t.Fatalf("%d ready after %d vends: a refused vend changed the stock", n, limit)
	}
	// Another template of the same pool, and another owner, are not held.
	if _, err := (tplVend{owner: "alice", tpl: "other", tplLimit: limit}).do(s); err != nil {
		t.Fatalf("another template: %v", err)
	}
	if _, err := (tplVend{owner: "bob", tplLimit: limit}).do(s); err != nil {
		t.Fatalf("another owner: %v", err)
	}
	endLease(t, s, granted[0], T0.Add(time.Second))
	if _, err := (tplVend{owner: "alice", tplLimit: limit, now: T0.Add(2 * time.Second)}).do(s); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	_, err := tplVend{owner: "alice", tplLimit: limit, now: T0.Add(3 * time.Second)}.do(s)
	if !errors.Is(err, ovm.ErrTemplateLeaseLimit) || !errors.Is(err, ovm.ErrLeaseLimit) {
		t.Fatalf("error = %v, want the template's lease limit", err)
	}
}

func testConcurrentTeamLimit(t *testing.T, s ovm.Store) {
	const stock, clients, limit = 12, 16, 4
	for range stock {
		Ready(t, s, "p1", T0)
	}
	var n int
	var mu = make(chan struct{}, 1)
	granted, limited := vendAtOnce(t, clients, ovm.ErrTeamLeaseLimit, func() (*ovm.Lease, error) {
		mu <- struct{}{}
		n++
		owner := fmt.Sprintf("member-%d", n)
		<-mu
		return tplVend{owner: owner, team: "platform", teamLimit: limit}.do(s)
	})
	if len(granted) != limit || limited != clients-limit {
		t.Fatalf("%d leases granted and %d refused to one team's %d members with a team limit of %d", len(granted), limited, clients, limit)
	}
	for _, l := range granted {
		if l.Team != "platform" {
			t.Fatalf("lease %s counts for team %q", l.ID, l.Team)
		}
	}
	if _, err := (tplVend{owner: "outsider", team: "data", teamLimit: limit}).do(s); err != nil {
		t.Fatalf("another team: %v", err)
	}
	if _, err := (tplVend{owner: "loner", teamLimit: limit}).do(s); err != nil {
		t.Fatalf("an owner without a team: %v", err)
	}
	endLease(t, s, granted[0], T0.Add(time.Second))
	if _, err := (tplVend{owner: "late", team: "platform", teamLimit: limit, now: T0.Add(2 * time.Second)}).do(s); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	_, err := tplVend{owner: "later", team: "platform", teamLimit: limit, now: T0.Add(3 * time.Second)}.do(s)
	if !errors.Is(err, ovm.ErrTeamLeaseLimit) || !errors.Is(err, ovm.ErrLeaseLimit) || ovm.ErrorCodeOf(err) != ovm.ELimitExceeded {
		t.Fatalf("error = %v, want the team's lease limit", err)
	}
}

func testTeamRefusalTakesNoOwnerSlot(t *testing.T, s ovm.Store) {
	for range 4 {
		Ready(t, s, "p1", T0)
	}
	if _, err := (tplVend{owner: "bob", team: "platform", teamLimit: 1}).do(s); err != nil {
		t.Fatal(err)
	}
	// alice's vend is refused by her team's limit: her own limits (1 over
	// all pools, 1 of the template) must still have room.
	_, err := tplVend{owner: "alice", team: "platform", teamLimit: 1, ownerLimit: 1, tplLimit: 1}.do(s)
	if !errors.Is(err, ovm.ErrTeamLeaseLimit) {
		t.Fatalf("error = %v, want the team's limit", err)
	}
	if _, err := (tplVend{owner: "alice", team: "data", teamLimit: 1, ownerLimit: 1, tplLimit: 1}).do(s); err != nil {
		t.Fatalf("alice in another team after a refusal: %v (the refusal kept a slot of hers)", err)
	}
}
