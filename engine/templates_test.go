package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
)

func smallTemplate() ovm.Template {
	return ovm.Template{Name: "small", Pool: "default", Description: "EU only, 1 hour",
		Lease:      ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, MinTTL: time.Minute, MaxPerOwner: 1},
		MaxPerTeam: 1, Allowed: []string{"team:platform", "key:ci-*"}}
}

func templateWorld(t *testing.T, tpls ...ovm.Template) *world {
	w := newWorld(t, sim.DefaultConfig(), poolPolicy())
	w.cfg.Templates = tpls
	w.build()
	w.settle(20, time.Second)
	return w
}

func TestAVendUnderATemplateKeepsItsTerms(t *testing.T) {
	w := templateWorld(t, smallTemplate())
	ctx := context.Background()
	ci := ovm.Requester{Kind: "key", Name: "ci-main"}
	l, _, err := w.eng.Vend(ctx, &engine.VendRequest{Template: "small", Owner: "ci-main", Requester: ci})
	if err != nil {
		t.Fatal(err)
	}
	if l.Template != "small" || l.Pool != "default" || l.ExpiresAt.Sub(l.CreatedAt) != time.Hour || l.Terms == nil ||
		l.Terms.Lease.MaxTTL != 2*time.Hour || l.Terms.MaxPerTeam != 1 {
		t.Fatalf("lease %+v terms %+v", l, l.Terms)
	}
	// The template's limit per owner (1), not the pool's.
	if _, _, err := w.eng.Vend(ctx, &engine.VendRequest{Template: "small", Owner: "ci-main", Requester: ci}); ovm.ErrorCodeOf(err) != ovm.ELimitExceeded ||
		!strings.Contains(err.Error(), `template "small"`) {
		t.Fatalf("a second lease of the template: %v", err)
	}
	// The pool's own template is still there, with the pool's terms.
	p, _, err := w.eng.Vend(ctx, &engine.VendRequest{Pool: "default", Owner: "ci-main", Requester: ci})
	if err != nil || p.Template != "default" || p.ExpiresAt.Sub(p.CreatedAt) != 24*time.Hour {
		t.Fatalf("a vend of the pool alone: %+v %v", p, err)
	}
	// The configuration changes: the lease keeps the bound it was made with.
	changed := smallTemplate()
	changed.Lease.MaxTTL = 10 * time.Hour
	w.cfg.Templates = []ovm.Template{changed}
	w.build()
	if _, err := w.eng.ExtendLease(ctx, l, l.CreatedAt.Add(5*time.Hour), "key:ci-main"); ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Fatalf("an extension past the lease's own max_ttl (2h) after the template's became 10h: %v", err)
	}
	if _, err := w.eng.ExtendLease(ctx, l, l.CreatedAt.Add(2*time.Hour), "key:ci-main"); err != nil {
		t.Fatalf("an extension within the lease's terms: %v", err)
	}
}

func TestATemplateIsForWhomItAllows(t *testing.T) {
	w := templateWorld(t, smallTemplate())
	ctx := context.Background()
	for _, c := range []struct {
		r    ovm.Requester
		tpl  string
		pool string
		ttl  time.Duration
		code ovm.ErrorCode
	}{
		{r: ovm.Requester{Kind: "key", Name: "dev"}, tpl: "small", code: ovm.EForbidden},
		{r: ovm.Requester{Kind: "oidc", Name: "ci-main"}, tpl: "small", code: ovm.EForbidden},
		{r: ovm.Requester{Kind: "key", Name: "ci-a"}, tpl: "small", ttl: 3 * time.Hour, code: ovm.EInvalid},
		{r: ovm.Requester{Kind: "key", Name: "ci-a"}, tpl: "small", pool: "other", code: ovm.EInvalid},
		{r: ovm.Requester{Kind: "key", Name: "ci-a"}, tpl: "large", code: ovm.ENotFound},
		{r: ovm.Requester{Kind: "key", Name: "ci-a"}, pool: "nowhere", code: ovm.ENotFound},
	} {
		_, _, err := w.eng.Vend(ctx, &engine.VendRequest{Template: c.tpl, Pool: c.pool, TTL: c.ttl, Owner: c.r.Name, Requester: c.r})
		if ovm.ErrorCodeOf(err) != c.code {
			t.Errorf("%+v: %v, want %s", c, err, c.code)
		}
	}
	if n := w.counts()[ovm.AccountLeased]; n != 0 {
		t.Fatalf("%d accounts leased by refused vends", n)
	}
}

func TestATeamHoldsAtMostItsShareOfATemplate(t *testing.T) {
	w := templateWorld(t, smallTemplate())
	ctx := context.Background()
	alice := ovm.Requester{Kind: "oidc", Name: "alice", Teams: []string{"platform"}}
	bob := ovm.Requester{Kind: "oidc", Name: "bob", Teams: []string{"platform"}}
	l, _, err := w.eng.Vend(ctx, &engine.VendRequest{Template: "small", Owner: "alice", Requester: alice})
	if err != nil || l.Team != "platform" {
		t.Fatalf("%+v %v", l, err)
	}
	_, _, err = w.eng.Vend(ctx, &engine.VendRequest{Template: "small", Owner: "bob", Requester: bob})
	if ovm.ErrorCodeOf(err) != ovm.ELimitExceeded || !strings.Contains(err.Error(), "team platform") {
		t.Fatalf("bob, alice's teammate, over max_per_team 1: %v", err)
	}
	if _, err := w.eng.EndLease(ctx, l, ovm.LeaseReleased, "oidc:alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.eng.Vend(ctx, &engine.VendRequest{Template: "small", Owner: "bob", Requester: bob}); err != nil {
		t.Fatalf("after alice released: %v", err)
	}
}

func TestTemplatesThatCannotBeAreRefusedAtStart(t *testing.T) {
	for want, mod := range map[string]func(*ovm.Template){
		`pool "nowhere" is not defined`:         func(t *ovm.Template) { t.Pool = "nowhere" },
		"a pool of that name has it as its own": func(t *ovm.Template) { t.Name = "default" },
		"lease.max_ttl":                         func(t *ovm.Template) { t.Lease.MaxTTL = time.Minute },
		"but no policy document":                func(t *ovm.Template) { t.Guardrails.Regions = []string{"eu-west-1"} },
	} {
		tpl := smallTemplate()
		mod(&tpl)
		w := newWorld(t, sim.DefaultConfig(), poolPolicy())
		w.cfg.Templates = []ovm.Template{tpl}
		_, err := engine.New(w.store, []engine.Pool{{Policy: w.pool, Provider: w.sim}}, w.clock, nil, w.cfg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}

// A lease counts for the team the template admitted its owner by, not
// for another of the owner's teams: a member of two teams cannot slip
// past the admitting team's max_per_team.
func TestALeaseCountsForTheTeamThatAdmittedIt(t *testing.T) {
	w := templateWorld(t, smallTemplate())
	ctx := context.Background()
	pat := ovm.Requester{Kind: "key", Name: "pat", Teams: []string{"platform"}}
	sam := ovm.Requester{Kind: "key", Name: "sam", Teams: []string{"other", "platform"}}
	if l, _, err := w.eng.Vend(ctx, &engine.VendRequest{Template: "small", Owner: "pat", Requester: pat}); err != nil || l.Team != "platform" {
		t.Fatalf("pat: %+v %v", l, err)
	}
	if _, _, err := w.eng.Vend(ctx, &engine.VendRequest{Template: "small", Owner: "sam", Requester: sam}); ovm.ErrorCodeOf(err) != ovm.ELimitExceeded {
		t.Fatalf("sam, in other and platform, past platform's max_per_team: %v", err)
	}
	// A refusal says nothing more of a template than that it is not open:
	// not its pool.
	_, _, err := w.eng.Vend(ctx, &engine.VendRequest{Template: "small", Pool: "other", Owner: "dev", Requester: ovm.Requester{Kind: "key", Name: "dev"}})
	if ovm.ErrorCodeOf(err) != ovm.EForbidden || strings.Contains(err.Error(), "default") {
		t.Fatalf("an outsider naming another pool: %v", err)
	}
}

// A lease of a pool's own template keeps no terms of its own: a pool's
// bounds tightened later bind it, as before templates.
func TestAPoolsOwnTemplatesLeasesFollowThePoolAsItIsNow(t *testing.T) {
	w := templateWorld(t)
	ctx := context.Background()
	l, _, err := w.eng.Vend(ctx, &engine.VendRequest{Pool: "default", Owner: "alice", Requester: ovm.Requester{Kind: "key", Name: "alice"}})
	if err != nil || l.Template != "default" || l.Terms != nil {
		t.Fatalf("%+v %v", l, err)
	}
	w.pool.Lease.MaxTTL = 30 * time.Minute
	w.pool.Lease.DefaultTTL = 20 * time.Minute
	w.build()
	if _, err := w.eng.ExtendLease(ctx, l, l.CreatedAt.Add(time.Hour), "key:alice"); ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Fatalf("an extension past the pool's new max_ttl: %v", err)
	}
}
