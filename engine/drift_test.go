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

func TestCompareInventory(t *testing.T) {
	stored := func(id, aws string, st ovm.AccountState) *ovm.Account {
		return &ovm.Account{ID: id, Pool: "p", AWSAccountID: aws, State: st}
	}
	ext := func(aws, id, pool, state string) ovm.ExternalAccount {
		return ovm.ExternalAccount{AWSAccountID: aws, AccountID: id, Pool: pool, State: state, Email: id + "@x"}
	}
	cases := []struct {
		name   string
		ext    []ovm.ExternalAccount
		stored []*ovm.Account
		want   string // a word of the problem, or "" for none
	}{
		{"matching accounts are fine", []ovm.ExternalAccount{ext("111111111111", "acc_1", "p", "ACTIVE")},
			[]*ovm.Account{stored("acc_1", "111111111111", ovm.AccountReady)}, ""},
		{"an unknown tagged account is reported", []ovm.ExternalAccount{ext("111111111111", "acc_9", "p", "ACTIVE")}, nil, "does not know"},
		{"another pool's account is not ours", []ovm.ExternalAccount{ext("111111111111", "acc_9", "q", "ACTIVE")}, nil, ""},
		{"an account closed outside OVM is reported", []ovm.ExternalAccount{ext("111111111111", "acc_1", "p", "SUSPENDED")},
			[]*ovm.Account{stored("acc_1", "111111111111", ovm.AccountLeased)}, "outside OVM"},
		{"a stored account missing from AWS is reported", nil,
			[]*ovm.Account{stored("acc_1", "111111111111", ovm.AccountReady)}, "does not list"},
		{"a closed account may be gone from AWS", nil, []*ovm.Account{stored("acc_1", "111111111111", ovm.AccountClosed)}, ""},
		{"a closed account active in AWS is reported", []ovm.ExternalAccount{ext("111111111111", "acc_1", "p", "ACTIVE")},
			[]*ovm.Account{stored("acc_1", "111111111111", ovm.AccountClosed)}, "ACTIVE"},
		{"a tag on the wrong aws account is reported", []ovm.ExternalAccount{ext("222222222222", "acc_1", "p", "ACTIVE")},
			[]*ovm.Account{stored("acc_1", "111111111111", ovm.AccountCleaning)}, "carries its tag"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := engine.CompareInventory("p", c.ext, c.stored)
			if c.want == "" && len(got) > 0 {
				t.Fatalf("findings %+v, want none", got)
			}
			found := false
			for _, f := range got {
				found = found || strings.Contains(f.Problem, c.want)
			}
			if c.want != "" && !found {
				t.Fatalf("findings %+v, want one about %q", got, c.want)
			}
		})
	}
}

func TestDriftIsReportedOnceAndShownInThePoolStatus(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	w.settle(5, time.Second)
	ctx := context.Background()
	ready := w.accounts()[0]
	if err := w.sim.CloseOutside(ready.AWSAccountID); err != nil {
		t.Fatal(err)
	}
	stray, _ := w.sim.AddOutside("acc_stray", "default", "stray@x")
	for range 2 { // the second run finds the same: no new event
		if _, err := w.eng.RunOnce(ctx, engine.WorkerDrift); err != nil {
			t.Fatal(err)
		}
	}
	st, err := w.eng.PoolStatus(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Drift) != 2 || st.DriftCheckedAt.IsZero() {
		t.Fatalf("findings %+v", st.Drift)
	}
	ev, _, _ := w.store.EventList(ctx, &ovm.EventListParams{AccountID: ready.ID})
	drift := 0
	for _, e := range ev {
		if e.Kind == ovm.EventDrift {
			drift++
		}
	}
	if drift != 1 {
		t.Fatalf("%d drift events on %s, want exactly 1", drift, ready.ID)
	}
	pev, _, _ := w.store.EventList(ctx, &ovm.EventListParams{Pool: "default"})
	if len(pev) != 1 || !strings.Contains(pev[0].Reason, stray) {
		t.Fatalf("pool events %+v", pev)
	}
}
