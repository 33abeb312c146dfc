package ovm_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

func TestASpendCapNamesItsWrongKey(t *testing.T) {
	for _, c := range []struct {
		cap   ovm.SpendCap
		field string
	}{
		{ovm.SpendCap{Per: ovm.CapDay, USD: 1}, "owner"},
		{ovm.SpendCap{Owner: "*", Team: "x", Per: ovm.CapDay, USD: 1}, "owner"},
		{ovm.SpendCap{Team: "bad team", Per: ovm.CapDay, USD: 1}, "team"},
		{ovm.SpendCap{Owner: "*", Per: "year", USD: 1}, "per"},
		{ovm.SpendCap{Owner: "*", Per: ovm.CapWeek, USD: 0}, "usd"},
	} {
		var fe *ovm.FieldError
		if err := c.cap.Validate(); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%+v: %v, want an error naming %s", c.cap, err, c.field)
		}
	}
	if err := (ovm.SpendCap{Team: "*", Per: ovm.CapMonth, USD: 500}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestACapsPeriodIsADayAnISOWeekOrACalendarMonthInUTC(t *testing.T) {
	now := time.Date(2026, 12, 5, 22, 30, 0, 0, time.FixedZone("x", 5*3600)) // Saturday 17:30 UTC
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for per, want := range map[ovm.CapPeriod][2]time.Time{
		ovm.CapDay:   {day(2026, 12, 5), day(2026, 12, 6)},
		ovm.CapWeek:  {day(2026, 11, 30), day(2026, 12, 7)},
		ovm.CapMonth: {day(2026, 12, 1), day(2027, 1, 1)},
	} {
		s, r := ovm.SpendCap{Owner: "*", Per: per, USD: 1}.Period(now)
		if !s.Equal(want[0]) || !r.Equal(want[1]) {
			t.Errorf("%s: [%s, %s), want [%s, %s)", per, s, r, want[0], want[1])
		}
	}
	if s, _ := (ovm.SpendCap{Owner: "*", Per: ovm.CapWeek, USD: 1}).Period(day(2026, 11, 30)); !s.Equal(day(2026, 11, 30)) {
		t.Errorf("a Monday's week starts %s", s)
	}
}

func TestACapCountsItsSubjectsSpendFromThePeriodsStart(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	sums := []*ovm.SpendSummary{
		{Owner: "alice", Team: "platform", AsOf: now, Estimated: map[string]float64{"2026-12-04": 7, "2026-12-05": 2}},
		{Owner: "bob", Team: "platform", AsOf: now, Estimated: map[string]float64{"2026-12-05": 3}},
		{Owner: "alice", AsOf: now.Add(-time.Hour), Estimated: map[string]float64{"2026-12-05": 1}, Burn: []ovm.SpendBurn{{USDPerHour: 1}}},
	}
	owner := ovm.SpendCap{Owner: "*", Per: ovm.CapDay, USD: 4}
	start, _ := owner.Period(now)
	if subject, ok := owner.Subject("alice", "platform"); !ok || subject != "alice" {
		t.Fatalf("owner cap subject %q %v", subject, ok)
	}
	if got := ovm.CapSpent(owner, "alice", sums, start, now); got != 4 { // 2 + 1 + an hour's burn
		t.Fatalf("alice spent %v today, want 4", got)
	}
	team := ovm.SpendCap{Team: "platform", Per: ovm.CapDay, USD: 4}
	if _, ok := team.Subject("carol", "infra"); ok {
		t.Fatal("a cap of team platform applies to team infra")
	}
	if got := ovm.CapSpent(team, "platform", sums, start, now); got != 5 {
		t.Fatalf("platform spent %v today, want 5", got)
	}
	if !(ovm.CapStatus{Cap: team, SpentUSD: 5}).Reached() || (ovm.CapStatus{Cap: team, SpentUSD: 3.99}).Reached() {
		t.Fatal("Reached is wrong")
	}
}
