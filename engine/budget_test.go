package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/spend/cloudtrail"
	"github.com/ovmdev/ovm/spend/prices"
)

// budgetWorld is a spend world whose pool's own template has budget b, its
// leases spending usdPerHour each, leased through the engine's vend (which
// copies the budget onto the lease).
func budgetWorld(t *testing.T, usdPerHour float64, b *ovm.Budget) *world {
	w := newWorld(t, sim.DefaultConfig(), poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2; p.Budget = b }))
	w.settle(20, 500*time.Millisecond)
	feed := &sim.SpendFeed{Clock: w.clock, Visibility: 30 * time.Second}
	feed.Spend(w.pool.Name, usdPerHour)
	tab := prices.Default()
	tab.Merge([]prices.Entry{{Type: "ec2.instance", Size: sim.SimInstanceType(w.pool.Name), Region: "*", USD: usdPerHour, Unit: prices.UnitHour, Source: "test", Date: "2026-12-05"}})
	w.cfg.Spend.Sources = []ovm.SpendSource{&cloudtrail.Source{Queue: feed, Parser: &cloudtrail.Parser{Prices: tab, OwnRoles: []string{sim.LesseeRole}}}}
	w.build()
	return w
}

func (w *world) lease(owner string, budgetUSD float64) *ovm.Lease {
	w.t.Helper()
	l, _, err := w.eng.Vend(context.Background(), &engine.VendRequest{Owner: owner, Requester: ovm.Requester{Kind: "key", Name: owner},
		TTL: 48 * time.Hour, BudgetUSD: budgetUSD})
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// budgetNotices are the lease.budget notifications in the outbox, oldest
// first.
func (w *world) budgetNotices(leaseID string) []*ovm.Notification {
	w.t.Helper()
	ds, _, err := w.store.DeliveryList(context.Background(), &ovm.DeliveryListParams{PageParams: ovm.PageParams{Limit: 1000}})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []*ovm.Notification
	for i := len(ds) - 1; i >= 0; i-- {
		if n := ds[i].Event; n.Type == ovm.NotifyLeaseBudget && n.LeaseID == leaseID {
			out = append(out, n)
		}
	}
	return out
}

var threeThresholds = &ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{
	{At: 0.5, Action: ovm.BudgetNotify}, {At: 0.9, Action: ovm.BudgetFreeze}, {At: 1, Action: ovm.BudgetEnd}}}

// A lease spending 2 USD an hour against a 10 USD budget: notify at 5 USD
// (2.5 h), freeze at 9 (4.5 h), end at 10 (5 h), each once, each a
// lease.budget notification with its figures; the frozen lease refuses
// credentials; the ended lease's account retires.
func TestNotifyFreezeAndEndFireAtTheirThresholdsOnceEach(t *testing.T) {
	w := budgetWorld(t, 2, threeThresholds)
	ctx := context.Background()
	l := w.lease("alice", 0)
	if l.Budget == nil || l.Budget.LimitUSD != 10 {
		t.Fatalf("the vend kept no budget: %+v", l.Budget)
	}
	w.spendRound()
	w.spendRound()
	step := func(d time.Duration) *ovm.Lease {
		w.clock.Advance(d)
		w.spendRound()
		w.spendRound() // a second round acts on nothing new
		return mustLease(t, w, l.ID)
	}
	if cur := step(2 * time.Hour); len(cur.Budget.Acted) != 0 || len(w.budgetNotices(l.ID)) != 0 {
		t.Fatalf("at 4 USD: acted %+v", cur.Budget.Acted)
	}
	cur := step(31 * time.Minute) // 5.03 USD
	if len(cur.Budget.Acted) != 1 || cur.Budget.Acted[0].Action != ovm.BudgetNotify || cur.Status() != ovm.LeaseActive {
		t.Fatalf("at 5 USD: acted %+v, state %s", cur.Budget.Acted, cur.Status())
	}
	ns := w.budgetNotices(l.ID)
	if len(ns) != 1 || ns[0].Budget == nil || ns[0].Budget.Threshold != "50%" || ns[0].Budget.Action != ovm.BudgetNotify ||
		ns[0].Budget.SpendUSD < 5 || ns[0].Budget.SpendUSD > 5.1 || ns[0].Owner != "alice" {
		t.Fatalf("the notify's notification: %+v", ns)
	}
	if _, err := w.eng.Credentials(ctx, cur, "key:alice"); err != nil {
		t.Fatalf("a lease past its notify gives credentials: %v", err)
	}
	cur = step(2 * time.Hour) // 9.03 USD
	if cur.Status() != ovm.LeaseFrozen || len(cur.Budget.Acted) != 2 || cur.Frozen.Actor != ovm.ActorBudget {
		t.Fatalf("at 9 USD: state %s, acted %+v", cur.Status(), cur.Budget.Acted)
	}
	if got := w.sim.Frozen(cur.AWSAccountID); got != l.ID {
		t.Fatalf("the simulated account's freeze is %q, want the lease's", got)
	}
	if a := w.account(l.AccountID); ovm.FrozenDone(a) != l.ID {
		t.Fatalf("the account does not record the freeze in place: %v", a.Progress)
	}
	calls := 0
	w.sim.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op == sim.OpAccess {
			calls++
		}
		return nil
	})
	_, err := w.eng.Credentials(ctx, cur, "key:alice")
	if ovm.ErrorCodeOf(err) != ovm.EFrozen || calls != 0 {
		t.Fatalf("credentials of a frozen lease: %v after %d calls to AWS, want the frozen error and none", err, calls)
	}
	w.sim.SetHook(nil)
	if _, err := w.eng.ExtendLease(ctx, cur, cur.ExpiresAt.Add(time.Hour), "key:alice"); ovm.ErrorCodeOf(err) != ovm.EFrozen {
		t.Fatalf("a frozen lease was extended: %v", err)
	}
	cur = step(30 * time.Minute) // 10.03 USD
	if cur.State != ovm.LeaseEnded || cur.EndReason != ovm.LeaseBudgetEnded || len(cur.Budget.Acted) != 3 {
		t.Fatalf("at 10 USD: state %s (%s), acted %+v", cur.State, cur.EndReason, cur.Budget.Acted)
	}
	ns = w.budgetNotices(l.ID)
	if len(ns) != 3 || ns[1].Budget.Action != ovm.BudgetFreeze || ns[2].Budget.Action != ovm.BudgetEnd {
		t.Fatalf("notifications: %d, want notify, freeze and end once each", len(ns))
	}
	step(6 * time.Hour)
	if ns := w.budgetNotices(l.ID); len(ns) != 3 {
		t.Fatalf("%d lease.budget notifications after six more hours, want 3", len(ns))
	}
	w.settle(30, time.Second)
	a := w.account(l.AccountID)
	if a.State == ovm.AccountLeased || ovm.FrozenOn(a) != "" {
		t.Fatalf("the ended lease's account: %s, frozen on %q", a.State, ovm.FrozenOn(a))
	}
	if w.sim.Frozen(a.AWSAccountID) != "" {
		t.Fatal("the simulated account is still frozen after the lease's end")
	}
}

// A 30-minute projection at 2 USD/h acts when the spend is 1 USD short of
// the threshold: before the spend reaches it.
func TestAProjectedThresholdFiresBeforeTheSpendReachesIt(t *testing.T) {
	b := &ovm.Budget{LimitUSD: 10, Project: 30 * time.Minute, Thresholds: []ovm.Threshold{{At: 1, Action: ovm.BudgetFreeze}}}
	w := budgetWorld(t, 2, b)
	l := w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	w.clock.Advance(4*time.Hour + 20*time.Minute) // 8.67 USD, projected 9.67
	w.spendRound()
	if cur := mustLease(t, w, l.ID); cur.Frozen != nil {
		t.Fatalf("frozen at a projection of 9.67 USD: %+v", cur.Budget.Acted)
	}
	w.clock.Advance(11 * time.Minute) // 9.03, projected 10.03
	w.spendRound()
	cur := mustLease(t, w, l.ID)
	if cur.Frozen == nil || len(cur.Budget.Acted) != 1 {
		t.Fatalf("not frozen at a projection past the limit: %+v", cur.Budget)
	}
	if act := cur.Budget.Acted[0]; act.SpendUSD >= 10 || act.ProjectedUSD < 10 {
		t.Fatalf("the act's figures: spend %v, projected %v; want spend under the limit, projection at it", act.SpendUSD, act.ProjectedUSD)
	}
}

// An admin's unfreeze gives access back: credentials are issued again, the
// simulated account's freeze is lifted; the freeze threshold does not act
// again at the same limit, but does at a raised one.
func TestUnfreezeRestoresAccessAndARaisedLimitArmsTheThresholdAgain(t *testing.T) {
	b := &ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 0.5, Action: ovm.BudgetFreeze}}}
	w := budgetWorld(t, 2, b)
	ctx := context.Background()
	l := w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	w.clock.Advance(2*time.Hour + 31*time.Minute)
	w.spendRound()
	cur := mustLease(t, w, l.ID)
	if cur.Frozen == nil {
		t.Fatal("not frozen at 5 USD")
	}
	if _, err := w.eng.UnfreezeLease(ctx, cur, "key:admin"); ovm.ErrorCodeOf(err) != ovm.EConflict || !strings.Contains(err.Error(), "raise its budget first") {
		t.Fatalf("an unfreeze at the limit the lease is past: %v", err)
	}
	if cur, err := w.eng.SetLeaseBudget(ctx, cur, 13, "key:admin"); err != nil { // 50% = 6.50: past the 5.03 spent
		t.Fatal(err)
	} else if _, err := w.eng.UnfreezeLease(ctx, cur, "key:admin"); err != nil {
		t.Fatal(err)
	}
	cur = mustLease(t, w, l.ID)
	if cur.Status() != ovm.LeaseActive || w.sim.Frozen(cur.AWSAccountID) != "" || ovm.FrozenOn(w.account(cur.AccountID)) != "" {
		t.Fatalf("after the unfreeze: state %s, simulated freeze %q", cur.Status(), w.sim.Frozen(cur.AWSAccountID))
	}
	if _, err := w.eng.Credentials(ctx, cur, "key:alice"); err != nil {
		t.Fatalf("credentials after the unfreeze: %v", err)
	}
	w.clock.Advance(30 * time.Minute) // 6.03 USD: under 6.50
	w.spendRound()
	if cur = mustLease(t, w, l.ID); cur.Frozen != nil {
		t.Fatal("frozen under the raised limit's threshold")
	}
	if _, err := w.eng.SetLeaseBudget(ctx, cur, 20, "key:admin"); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Hour) // 11 USD: past 50% of 20
	w.spendRound()
	if cur = mustLease(t, w, l.ID); cur.Frozen == nil || len(cur.Budget.Acted) != 2 || cur.Budget.Acted[1].LimitUSD != 20 {
		t.Fatalf("after the raise to 20 USD and 11 USD spent: %+v", cur.Budget)
	}
	if _, err := w.eng.SetLeaseBudget(ctx, cur, 40, "key:admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.UnfreezeLease(ctx, mustLease(t, w, l.ID), "key:admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.UnfreezeLease(ctx, mustLease(t, w, l.ID), "key:admin"); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("an unfreeze of a lease that is not frozen: %v", err)
	}
}

// kill -9 between recording a freeze and putting it in place on AWS: the
// restarted worker puts it in place, the notification was written once
// with the record, and the threshold does not act again.
func TestACrashBetweenTheFreezesRecordAndAWSFreezesOnceAndNotifiesOnce(t *testing.T) {
	for _, point := range []string{"budget.before-act", "budget.after-act", "budget.after-freeze"} {
		t.Run(point, func(t *testing.T) {
			b := &ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 0.5, Action: ovm.BudgetFreeze}}}
			w := budgetWorld(t, 2, b)
			l := w.lease("alice", 0)
			w.spendRound()
			w.spendRound()
			w.clock.Advance(2*time.Hour + 31*time.Minute)
			w.cfg.CrashPoint = func(p string) {
				if p == point {
					panic(p)
				}
			}
			w.build()
			var crashed any
			func() {
				defer func() { crashed = recover() }()
				w.spendRound()
			}()
			if crashed != point {
				t.Fatalf("no crash at %s: %v", point, crashed)
			}
			w.cfg.CrashPoint = nil
			w.build() // the restart
			for range 3 {
				w.spendRound()
			}
			cur := mustLease(t, w, l.ID)
			if cur.Frozen == nil || len(cur.Budget.Acted) != 1 {
				t.Fatalf("after the restart: frozen %v, acted %+v", cur.Frozen != nil, cur.Budget.Acted)
			}
			if w.sim.Frozen(cur.AWSAccountID) != l.ID || ovm.FrozenDone(w.account(cur.AccountID)) != l.ID {
				t.Fatal("the freeze is not in place on the simulated AWS after the restart")
			}
			if ns := w.budgetNotices(l.ID); len(ns) != 1 {
				t.Fatalf("%d lease.budget notifications, want 1", len(ns))
			}
		})
	}
}

// A lessee may ask for a lower limit when the template lets it, never a
// higher one; a template that does not let it refuses any.
func TestALesseeLowersItsBudgetOnlyWhereTheTemplateLetsIt(t *testing.T) {
	b := &ovm.Budget{LimitUSD: 10, LesseeMayLower: true, Thresholds: []ovm.Threshold{{At: 1, Action: ovm.BudgetEnd}}}
	w := budgetWorld(t, 2, b)
	if l := w.lease("alice", 4); l.Budget.LimitUSD != 4 {
		t.Fatalf("limit %v, want the lessee's 4", l.Budget.LimitUSD)
	}
	_, _, err := w.eng.Vend(context.Background(), &engine.VendRequest{Owner: "bob", Requester: ovm.Requester{Kind: "key", Name: "bob"}, BudgetUSD: 11})
	if ovm.ErrorCodeOf(err) != ovm.EInvalid || !strings.Contains(err.Error(), "at most the template's 10.00 USD") {
		t.Fatalf("a higher limit: %v", err)
	}
	b.LesseeMayLower = false
	_, _, err = w.eng.Vend(context.Background(), &engine.VendRequest{Owner: "bob", Requester: ovm.Requester{Kind: "key", Name: "bob"}, BudgetUSD: 5})
	if ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Fatalf("a lower limit the template does not allow: %v", err)
	}
}

// Two spend workers that read the same lease act on its threshold once:
// the second's compare-and-set loses, and it does not act again.
func TestTwoWorkersActOnAThresholdOnce(t *testing.T) {
	b := &ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 0.5, Action: ovm.BudgetNotify}}}
	w := budgetWorld(t, 2, b)
	l := w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	w.clock.Advance(3 * time.Hour)
	stale := mustLease(t, w, l.ID)
	w.spendRound()
	u, err := ovm.ActOnBudget(stale, w.account(stale.AccountID), b.Thresholds[0], 6, 6, w.pool.Retire, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.store.LeaseUpdate(context.Background(), u); !errors.Is(err, ovm.ErrConflict) {
		t.Fatalf("a second act from a stale read: %v, want a conflict", err)
	}
	if ns := w.budgetNotices(l.ID); len(ns) != 1 {
		t.Fatalf("%d notifications, want 1", len(ns))
	}
}

// A limit raised while frozen but still under the spend: the freeze
// threshold has nothing to freeze (not recorded), and the unfreeze is
// refused until the limit is above the spend.
func TestAnUnfreezeIsRefusedWhileTheSpendIsPastTheNewLimit(t *testing.T) {
	b := &ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 1, Action: ovm.BudgetFreeze}}}
	w := budgetWorld(t, 2, b)
	ctx := context.Background()
	l := w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	w.clock.Advance(5*time.Hour + time.Minute) // 10.03 USD
	w.spendRound()
	cur := mustLease(t, w, l.ID)
	if cur.Frozen == nil {
		t.Fatal("not frozen at 10 USD")
	}
	cur, err := w.eng.SetLeaseBudget(ctx, cur, 10.01, "key:admin")
	if err != nil {
		t.Fatal(err)
	}
	w.spendRound()
	if cur = mustLease(t, w, l.ID); len(cur.Budget.Acted) != 1 {
		t.Fatalf("a freeze threshold acted on a frozen lease: %+v", cur.Budget.Acted)
	}
	_, err = w.eng.UnfreezeLease(ctx, cur, "key:admin")
	if ovm.ErrorCodeOf(err) != ovm.EConflict || !strings.Contains(err.Error(), "raise its budget first") {
		t.Fatalf("an unfreeze past the new limit: %v", err)
	}
	if cur, err = w.eng.SetLeaseBudget(ctx, cur, 20, "key:admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.UnfreezeLease(ctx, cur, "key:admin"); err != nil {
		t.Fatalf("an unfreeze under the raised limit: %v", err)
	}
}

// A cap of 5 USD a day per owner: alice's spend, her ended lease's
// included, refuses her next vend with 429 naming the cap and its reset;
// bob still leases; the next day alice does again.
func TestASpendCapRefusesAVendUntilItsPeriodResets(t *testing.T) {
	w := budgetWorld(t, 2, nil)
	w.cfg.Vend.Caps = []ovm.SpendCap{{Owner: "*", Per: ovm.CapDay, USD: 5}}
	w.build()
	ctx := context.Background()
	w.clock.Set(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	l := w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	w.clock.Advance(3 * time.Hour) // 6 USD
	if _, err := w.eng.EndLease(ctx, mustLease(t, w, l.ID), ovm.LeaseReleased, "key:alice"); err != nil {
		t.Fatal(err)
	}
	w.settle(10, time.Second)
	_, _, err := w.eng.Vend(ctx, &engine.VendRequest{Owner: "alice", Requester: ovm.Requester{Kind: "key", Name: "alice"}})
	var oe *ovm.Error
	if !errors.As(err, &oe) || oe.Code != ovm.ELimitExceeded || !strings.Contains(oe.Message, "spend_caps[0]") ||
		!strings.Contains(oe.Message, "resets at 2026-12-06T00:00:00Z") || oe.RetryAfter < 8*time.Hour {
		t.Fatalf("a vend past the cap: %v", err)
	}
	st, err := w.eng.CapsOf(ctx, "alice", nil)
	if err != nil || len(st) != 1 || st[0].SpentUSD < 6 || !st[0].Reached() {
		t.Fatalf("alice's caps: %+v %v", st, err)
	}
	w.lease("bob", 0)
	w.clock.Set(time.Date(2026, 12, 6, 0, 0, 1, 0, time.UTC))
	w.spendRound()
	w.lease("alice", 0)
}

// A vend retried with its Idempotency-Key after the owner's cap was
// reached gets its lease back, not 429; a new key gets 429.
func TestAReplayPastASpendCapGetsItsLease(t *testing.T) {
	w := budgetWorld(t, 2, nil)
	w.cfg.Vend.Caps = []ovm.SpendCap{{Owner: "*", Per: ovm.CapDay, USD: 5}}
	w.build()
	ctx := context.Background()
	w.clock.Set(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	req := func(key string) (*ovm.Lease, bool, error) {
		return w.eng.Vend(ctx, &engine.VendRequest{Owner: "alice", Requester: ovm.Requester{Kind: "key", Name: "alice"}, IdempotencyKey: key})
	}
	l, _, err := req("k-1")
	if err != nil {
		t.Fatal(err)
	}
	w.spendRound()
	w.spendRound()
	w.clock.Advance(3 * time.Hour) // 6 USD
	w.spendRound()
	again, replayed, err := req("k-1")
	if err != nil || !replayed || again.ID != l.ID {
		t.Fatalf("the replay past the cap: %+v %v %v", again, replayed, err)
	}
	if _, _, err := req("k-2"); ovm.ErrorCodeOf(err) != ovm.ELimitExceeded {
		t.Fatalf("a new key past the cap: %v", err)
	}
}

// A cap's status is read once per 10 seconds, whatever the requests: a
// flood of vends from one key reads the period's ledgers once per 10 s,
// and a cap reached is seen at most that late.
func TestACapsStatusIsReadOncePerTenSeconds(t *testing.T) {
	w := budgetWorld(t, 3600, nil) // 1 USD a second
	w.cfg.Vend.Caps = []ovm.SpendCap{{Owner: "*", Per: ovm.CapDay, USD: 5}}
	w.build()
	ctx := context.Background()
	w.clock.Set(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))
	w.lease("alice", 0)
	w.spendRound()
	w.spendRound()
	first, err := w.eng.CapsOf(ctx, "alice", nil)
	if err != nil || len(first) != 1 {
		t.Fatal(first, err)
	}
	w.clock.Advance(9 * time.Second)
	w.spendRound()
	if st, _ := w.eng.CapsOf(ctx, "alice", nil); st[0].SpentUSD != first[0].SpentUSD {
		t.Fatalf("read again within 10 s: %v then %v", first[0].SpentUSD, st[0].SpentUSD)
	}
	w.clock.Advance(2 * time.Second)
	if st, _ := w.eng.CapsOf(ctx, "alice", nil); st[0].SpentUSD < 10 || !st[0].Reached() {
		t.Fatalf("after 11 s: %+v, want 11 USD and the cap reached", st[0])
	}
}
