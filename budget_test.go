package ovm_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

func TestABudgetNamesItsWrongKey(t *testing.T) {
	ok := ovm.Budget{LimitUSD: 50, Project: 30 * time.Minute, Thresholds: []ovm.Threshold{{At: 0.5, Action: ovm.BudgetNotify}, {At: 1, Action: ovm.BudgetEnd}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mod   func(*ovm.Budget)
		field string
	}{
		{func(b *ovm.Budget) { b.LimitUSD = 0 }, "limit_usd"},
		{func(b *ovm.Budget) { b.LimitUSD = 0.001 }, "limit_usd"},
		{func(b *ovm.Budget) { b.LimitUSD = math.NaN() }, "limit_usd"},
		{func(b *ovm.Budget) { b.LimitUSD = 2e6 }, "limit_usd"},
		{func(b *ovm.Budget) { b.Project = -time.Second }, "project"},
		{func(b *ovm.Budget) { b.Project = 8 * 24 * time.Hour }, "project"},
		{func(b *ovm.Budget) { b.Thresholds = nil }, "thresholds"},
		{func(b *ovm.Budget) { b.Thresholds[1].At = 0 }, "thresholds[1].at"},
		{func(b *ovm.Budget) { b.Thresholds[1].At = 11 }, "thresholds[1].at"},
		{func(b *ovm.Budget) { b.Thresholds[1].At = 0.5 }, "thresholds[1].at"},
		{func(b *ovm.Budget) { b.Thresholds[0].Action = "stop" }, "thresholds[0].action"},
		{func(b *ovm.Budget) { b.FreezeStop = true }, "freeze.stop"},
	} {
		b := ok
		b.Thresholds = append([]ovm.Threshold(nil), ok.Thresholds...)
		c.mod(&b)
		var fe *ovm.FieldError
		if err := b.Validate(); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("want an error naming %s, got %v", c.field, err)
		}
	}
}

func TestAShareIsAPercentOrAFraction(t *testing.T) {
	for in, want := range map[string]float64{"90%": 0.9, "0.5": 0.5, " 150% ": 1.5, "100%": 1} {
		if got, err := ovm.ParseShare(in); err != nil || math.Abs(got-want) > 1e-12 {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "%", "ninety", "NaN", "Inf%"} {
		if _, err := ovm.ParseShare(in); err == nil {
			t.Errorf("%q was read as a share", in)
		}
	}
	if got := (ovm.Threshold{At: 0.9}).Percent(); got != "90%" {
		t.Errorf("0.9 shows as %q", got)
	}
}

// The projection runs each burn on to the horizon, its own end or the
// lease's expiry, whichever comes first.
func TestTheProjectionStopsAtTheHorizonTheBurnsEndAndTheLeasesExpiry(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	s := &ovm.SpendSummary{AsOf: now, LeaseStart: now.Add(-time.Hour), Estimated: map[string]float64{"2026-12-05": 3},
		Burn: []ovm.SpendBurn{{USDPerHour: 2}, {USDPerHour: 4, Until: now.Add(15 * time.Minute)}}}
	spend, p := ovm.Projection(s, now, time.Hour, time.Time{})
	if spend != 3 || math.Abs(p-(3+2+1)) > 1e-9 {
		t.Fatalf("spend %v, projected %v; want 3 and 6", spend, p)
	}
	if _, p = ovm.Projection(s, now, time.Hour, now.Add(30*time.Minute)); math.Abs(p-(3+1+1)) > 1e-9 {
		t.Fatalf("projected to an expiry in 30m: %v, want 5", p)
	}
	if _, p = ovm.Projection(s, now, 0, time.Time{}); p != 3 {
		t.Fatalf("no horizon: %v, want the spend", p)
	}
}

func budgetLease(b ovm.Budget) *ovm.Lease {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	lb, _ := ovm.LeaseBudgetOf(&b, 0)
	return &ovm.Lease{ID: "lse_1", AccountID: "acc_1", AWSAccountID: "111122223333", Pool: "p", Owner: "alice", State: ovm.LeaseActive,
		Version: 3, CreatedAt: now, ExpiresAt: now.Add(8 * time.Hour), Budget: lb}
}

func TestAThresholdActsOncePerLimitAndTheActIsItsNotification(t *testing.T) {
	b := ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 1, Action: ovm.BudgetEnd}, {At: 0.5, Action: ovm.BudgetNotify}, {At: 0.8, Action: ovm.BudgetFreeze}}}
	l := budgetLease(b)
	now := l.CreatedAt.Add(time.Hour)
	due := l.Budget.Due(8.5)
	if len(due) != 2 || due[0].At != 0.5 || due[1].At != 0.8 {
		t.Fatalf("due at 8.5 USD: %+v, want 50%% then 80%%", due)
	}
	u, err := ovm.ActOnBudget(l, nil, due[0], 8, 8.5, ovm.RetirePolicy{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if u.ExpectVersion != 3 || u.Lease.Version != 4 || u.Event.Kind != ovm.EventBudget || u.Lease.Frozen != nil {
		t.Fatalf("notify: %+v", u)
	}
	n := ovm.NotificationFor(u.Event, nil, u.Lease)
	if n == nil || n.Type != ovm.NotifyLeaseBudget || n.Budget == nil || n.Budget.Threshold != "50%" || n.Budget.ProjectedUSD != 8.5 ||
		n.Budget.LimitUSD != 10 || n.Owner != "alice" {
		t.Fatalf("the notify's notification: %+v", n)
	}
	if _, err := ovm.ActOnBudget(u.Lease, nil, due[0], 8, 8.5, ovm.RetirePolicy{}, now); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("a second act of one threshold at one limit: %v", err)
	}
	l = u.Lease
	if due = l.Budget.Due(8.5); len(due) != 1 || due[0].At != 0.8 {
		t.Fatalf("due after the notify: %+v", due)
	}
	u, err = ovm.ActOnBudget(l, nil, due[0], 8, 8.5, ovm.RetirePolicy{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if u.Lease.Status() != ovm.LeaseFrozen || u.Event.From != "active" || u.Event.To != "frozen" || u.Lease.State != ovm.LeaseActive {
		t.Fatalf("freeze: status %s, event %s -> %s, stored %s", u.Lease.Status(), u.Event.From, u.Event.To, u.Lease.State)
	}
	l = u.Lease
	if _, err := ovm.ActOnBudget(l, nil, ovm.Threshold{At: 0.8, Action: ovm.BudgetFreeze}, 9, 9, ovm.RetirePolicy{}, now); err == nil {
		t.Fatal("a freeze threshold acted on a frozen lease")
	}
	// A raised limit arms every threshold again.
	r, err := ovm.SetLeaseBudget(l, 20, "key:admin", now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Event.Reason, "from 10.00 USD to 20.00 USD") || r.Event.Kind != ovm.EventLease || r.Event.To != "frozen" {
		t.Fatalf("the change's event: %+v", r.Event)
	}
	if due = r.Lease.Budget.Due(10); len(due) != 1 || due[0].At != 0.5 {
		t.Fatalf("due at 10 USD of 20: %+v", due)
	}
	for _, usd := range []float64{-1, 1e-300, 0.009} {
		if _, err := ovm.SetLeaseBudget(l, usd, "key:admin", now); ovm.ErrorCodeOf(err) != ovm.EInvalid {
			t.Fatalf("a limit of %v: %v", usd, err)
		}
	}
}

func TestAnEndByBudgetIsTheLeasesEndAndItsBudgetNotification(t *testing.T) {
	b := ovm.Budget{LimitUSD: 10, Thresholds: []ovm.Threshold{{At: 1, Action: ovm.BudgetEnd}}}
	l := budgetLease(b)
	l.Frozen = &ovm.LeaseFreeze{At: l.CreatedAt, Actor: "key:admin", Reason: "frozen"}
	a := &ovm.Account{ID: "acc_1", AWSAccountID: "111122223333", Pool: "p", State: ovm.AccountLeased, LeaseID: "lse_1", Version: 7}
	now := l.CreatedAt.Add(2 * time.Hour)
	u, err := ovm.ActOnBudget(l, a, b.Thresholds[0], 10.2, 10.2, ovm.RetirePolicy{Mode: ovm.RetireClose}, now)
	if err != nil {
		t.Fatal(err)
	}
	if u.Lease.State != ovm.LeaseEnded || u.Lease.EndReason != ovm.LeaseBudgetEnded || u.Account == nil || u.Account.Account.State != ovm.AccountClosing {
		t.Fatalf("end: %+v", u.Lease)
	}
	if ovm.NotificationTypeOf(u.Event) != ovm.NotifyLeaseEnded || u.Event.From != "frozen" ||
		u.Also == nil || ovm.NotificationTypeOf(u.Also) != ovm.NotifyLeaseBudget || len(u.Lease.Budget.Acted) != 1 {
		t.Fatalf("events: %+v and %+v", u.Event, u.Also)
	}
}

func TestAFrozenLeaseGivesNoAccessAndIsNotExtended(t *testing.T) {
	l := budgetLease(ovm.Budget{LimitUSD: 1, Thresholds: []ovm.Threshold{{At: 1, Action: ovm.BudgetEnd}}})
	now := l.CreatedAt.Add(time.Minute)
	if _, err := ovm.UnfreezeLease(l, "key:admin", now); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("unfreeze of an active lease: %v", err)
	}
	u, err := ovm.FreezeLease(l, true, "key:admin", "too much", now)
	if err != nil {
		t.Fatal(err)
	}
	f := u.Lease
	if f.Frozen == nil || !f.Frozen.Stop || u.Event.To != "frozen" || !strings.Contains(f.Frozen.Reason, "too much") {
		t.Fatalf("freeze: %+v, event to %s", f.Frozen, u.Event.To)
	}
	if _, err := ovm.FreezeLease(f, false, "key:admin", "", now); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("freeze of a frozen lease: %v", err)
	}
	if _, err := ovm.MarkLeaseAccess(f, "credentials", "key:alice", now); ovm.ErrorCodeOf(err) != ovm.EFrozen {
		t.Fatalf("first access of a frozen lease: %v", err)
	}
	lp := ovm.LeasePolicy{MaxTTL: 72 * time.Hour}
	if _, err := ovm.ExtendLease(f, lp, f.ExpiresAt.Add(time.Hour), "key:alice", now); ovm.ErrorCodeOf(err) != ovm.EFrozen {
		t.Fatalf("extension of a frozen lease: %v", err)
	}
	v, err := ovm.UnfreezeLease(f, "key:admin", now)
	if err != nil || v.Lease.Frozen != nil || v.Event.From != "frozen" || v.Event.To != "active" {
		t.Fatalf("unfreeze: %v %+v", err, v)
	}
	if _, err := ovm.ExtendLease(v.Lease, lp, f.ExpiresAt.Add(time.Hour), "key:alice", now); err != nil {
		t.Fatalf("extension after the unfreeze: %v", err)
	}
}

func TestALesseesLowerLimitIsBoundedByTheTemplates(t *testing.T) {
	b := &ovm.Budget{LimitUSD: 10, LesseeMayLower: true, Thresholds: []ovm.Threshold{{At: 1, Action: ovm.BudgetEnd}}}
	if lb, err := ovm.LeaseBudgetOf(b, 3); err != nil || lb.LimitUSD != 3 || b.LimitUSD != 10 {
		t.Fatalf("%+v %v", lb, err)
	}
	for _, usd := range []float64{-1, 10.01, math.NaN()} {
		if _, err := ovm.LeaseBudgetOf(b, usd); ovm.ErrorCodeOf(err) != ovm.EInvalid {
			t.Errorf("%v: %v", usd, err)
		}
	}
	if _, err := ovm.LeaseBudgetOf(nil, 3); ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Errorf("a lower limit without a budget: %v", err)
	}
	if lb, err := ovm.LeaseBudgetOf(nil, 0); lb != nil || err != nil {
		t.Errorf("no budget: %+v %v", lb, err)
	}
}
