package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
)

// The races a fresh-eyes review found in the budgets, each a test that
// failed before its fix.

var freezeHalf = &ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 0.5, Action: ovm.BudgetFreeze}}}

// A freeze whose first attempt AWS refused, after an earlier freeze of the
// same lease was lifted, is put in place by the next round.
func TestASecondFreezeThatAWSRefusedOnceIsRetried(t *testing.T) {
	w := budgetWorld(t, 2, freezeHalf)
	ctx := context.Background()
	l := w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	w.clock.Advance(2*time.Hour + 31*time.Minute)
	w.spendRound()
	cur := mustLease(t, w, l.ID)
	if cur.Frozen == nil || w.sim.Frozen(cur.AWSAccountID) != l.ID {
		t.Fatal("not frozen")
	}
	cur, err := w.eng.SetLeaseBudget(ctx, cur, 100, "key:admin")
	if err != nil {
		t.Fatal(err)
	}
	if cur, err = w.eng.UnfreezeLease(ctx, cur, "key:admin"); err != nil {
		t.Fatal(err)
	}
	if w.sim.Frozen(cur.AWSAccountID) != "" {
		t.Fatal("not lifted")
	}
	w.sim.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op == sim.OpFreeze {
			return errors.New("transient")
		}
		return nil
	})
	if cur, err = w.eng.FreezeLease(ctx, cur, false, "again", "key:admin"); err != nil {
		t.Fatal(err)
	}
	w.sim.SetHook(nil)
	for range 5 {
		w.clock.Advance(time.Second)
		w.spendRound()
		w.settle(2, time.Second)
	}
	if got := w.sim.Frozen(cur.AWSAccountID); got != l.ID {
		t.Fatalf("lease frozen in store, but the freeze is not in place on AWS (sim frozen=%q, account progress %v)", got, w.account(l.AccountID).Progress)
	}
}

// The lease ends while AWS puts its freeze on: the account does not go
// back to stock under the deny-all.
func TestALeaseEndedWhileAWSFreezesItsAccountLeavesNoFreeze(t *testing.T) {
	w := budgetWorld(t, 2, nil)
	w.pool.Retire.Mode = ovm.RetireRecycle
	w.build()
	ctx := context.Background()
	l := w.lease("alice", 0)
	fired := false
	w.sim.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op == sim.OpFreeze && !fired {
			fired = true
			go func() { // the lessee releases meanwhile
				cur := mustLease(t, w, l.ID)
				if _, err := w.eng.EndLease(ctx, cur, ovm.LeaseReleased, "key:alice"); err != nil {
					t.Error(err)
				}
			}()
			time.Sleep(200 * time.Millisecond)
		}
		return nil
	})
	cur := mustLease(t, w, l.ID)
	if _, err := w.eng.FreezeLease(ctx, cur, false, "x", "key:admin"); err != nil {
		t.Fatal(err)
	}
	w.sim.SetHook(nil)
	w.settle(200, 10*time.Second)
	a := w.account(l.AccountID)
	t.Logf("account %s state %s progress %v; sim frozen %q", a.ID, a.State, a.Progress, w.sim.Frozen(a.AWSAccountID))
	if w.sim.Frozen(a.AWSAccountID) != "" {
		t.Fatalf("account back in %s with the deny-all freeze of ended lease still on it", a.State)
	}
}

// An admin raises the limit while the worker acts: the retry compares the
// spend with the new limit, and does not act.
func TestALimitRaisedWhileAThresholdActsIsTheOneComparedWith(t *testing.T) {
	b := &ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 1, Action: ovm.BudgetEnd}}}
	w := budgetWorld(t, 2, b)
	ctx := context.Background()
	var id string
	once := false
	w.cfg.CrashPoint = func(p string) {
		if p == "budget.before-act" && !once {
			once = true
			cur := mustLease(t, w, id)
			if _, err := w.eng.SetLeaseBudget(ctx, cur, 100, "key:admin"); err != nil {
				t.Error(err)
			}
		}
	}
	w.build()
	l := w.lease("alice", 0)
	id = l.ID
	w.spendRound()
	w.spendRound()
	w.clock.Advance(5*time.Hour + time.Minute) // 10.03 USD
	w.spendRound()
	cur := mustLease(t, w, l.ID)
	t.Logf("state %s %s limit %.2f acted %+v", cur.State, cur.EndReason, cur.Budget.LimitUSD, cur.Budget.Acted)
	if cur.State == ovm.LeaseEnded {
		t.Fatalf("ended by budget at 10 USD of a 100 USD limit")
	}
}

// A pool with no spend source: an admin's freeze that AWS refused once is
// put in place by the drift check.
func TestAFreezeIsPutInPlaceByTheDriftCheckWhenNoSpendWorkerRuns(t *testing.T) {
	w := newWorld(t, sim.DefaultConfig(), poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	w.settle(20, 500*time.Millisecond)
	ctx := context.Background()
	l, _, err := w.eng.Vend(ctx, &engine.VendRequest{Owner: "alice", Requester: ovm.Requester{Kind: "key", Name: "alice"}, TTL: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.sim.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op == sim.OpFreeze {
			return errors.New("transient")
		}
		return nil
	})
	if _, err := w.eng.FreezeLease(ctx, mustLease(t, w, l.ID), false, "x", "key:admin"); err != nil {
		t.Fatal(err)
	}
	w.sim.SetHook(nil)
	for range 20 {
		for _, wk := range []engine.Worker{engine.WorkerSpender, engine.WorkerDrift} {
			if _, err := w.eng.RunOnce(ctx, wk); err != nil {
				t.Log(err)
			}
		}
		w.settle(1, time.Minute)
	}
	if got := w.sim.Frozen(l.AWSAccountID); got != l.ID {
		t.Fatalf("lease frozen in the store for 20 min, freeze never put in place on AWS (sim %q)", got)
	}
}
