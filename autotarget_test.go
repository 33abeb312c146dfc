package ovm_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/demandtrace"
)

// monday is a Monday 00:00.
var monday = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

func TestAnAutoTargetFollowsTheWeek(t *testing.T) {
	history := demandtrace.Times(demandtrace.Default.Generate(monday, 4, 1))
	now := monday.Add(4 * ovm.Week) // the fifth Monday
	a := ovm.AutoTarget{Min: 1, Max: 40, HitRatio: 0.99}
	lead := 150 * time.Second  // 90 s to create, 60 s to bootstrap
	rate := 5 / lead.Seconds() // as the engine estimates it
	at := func(d time.Duration) int {
		n, why := a.TargetFor(history, now.Add(d), lead, rate)
		if !strings.Contains(why, "4 past weeks") {
			t.Fatalf("why %q", why)
		}
		return n
	}
	night, beforeBurst, afternoon, beforeWorkshop := at(3*time.Hour), at(8*time.Hour+58*time.Minute), at(16*time.Hour),
		at(2*24*time.Hour+13*time.Hour+58*time.Minute)
	t.Logf("targets: night %d, before the burst %d, afternoon %d, before the workshop %d", night, beforeBurst, afternoon, beforeWorkshop)
	if night > 2 || beforeBurst <= afternoon || afternoon < night || beforeWorkshop < 10 || beforeWorkshop <= beforeBurst {
		t.Fatal("the target does not follow the week")
	}
	// The bounds hold, and no history is the minimum.
	if n, _ := (ovm.AutoTarget{Min: 3, Max: 5}).TargetFor(history, now.Add(2*24*time.Hour+13*time.Hour+58*time.Minute), lead, rate); n != 5 {
		t.Fatalf("max: %d", n)
	}
	if n, _ := (ovm.AutoTarget{Min: 3, Max: 5}).TargetFor(nil, now, lead, rate); n != 3 {
		t.Fatalf("no history: %d", n)
	}
	// A higher hit ratio never asks for less.
	lo, _ := (ovm.AutoTarget{HitRatio: 0.8, Max: 40}).TargetFor(history, now.Add(8*time.Hour+58*time.Minute), lead, rate)
	hi, _ := (ovm.AutoTarget{HitRatio: 1, Max: 40}).TargetFor(history, now.Add(8*time.Hour+58*time.Minute), lead, rate)
	if lo > hi {
		t.Fatalf("hit ratio 0.8 asks %d, 1.0 asks %d", lo, hi)
	}
}

// hit_ratio is a share of vends: when every other vend comes 140 s after
// another (within the 150 s lead time), half of them need a second account
// in stock, however rare such moments are in time.
func TestTheHitRatioCountsVendsNotMinutes(t *testing.T) {
	var history []time.Time
	for h := time.Duration(0); h < 4*ovm.Week; h += time.Hour {
		history = append(history, monday.Add(h), monday.Add(h+140*time.Second))
	}
	n, why := (ovm.AutoTarget{Min: 0, Max: 10, HitRatio: 0.8}).TargetFor(history, monday.Add(4*ovm.Week+30*time.Minute), 150*time.Second, 5.0/150)
	if n != 2 {
		t.Fatalf("target %d (%s), want 2: a vend that follows another within a lead time finds none in stock", n, why)
	}
}

func TestDemandCountsAnOwnersMissesAsOneWaitingOwner(t *testing.T) {
	lead := 5 * time.Minute
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	miss := func(owner string, m, n int) *ovm.MissCount {
		return &ovm.MissCount{Pool: "p", Owner: owner, Minute: at(m), Count: n}
	}
	for _, c := range []struct {
		name   string
		leases []ovm.LeaseStart
		misses []*ovm.MissCount
		want   int
	}{
		{"a storm of one owner's misses within a lead time is one vend", nil,
			[]*ovm.MissCount{miss("a", 0, 60), miss("a", 1, 60), miss("a", 4, 60)}, 1},
		{"an owner still waiting after a lead time counts again", nil,
			[]*ovm.MissCount{miss("a", 0, 1), miss("a", 5, 1), miss("a", 9, 1), miss("a", 10, 1)}, 3},
		{"owners each count", nil, []*ovm.MissCount{miss("a", 0, 9), miss("b", 0, 1), miss("c", 2, 3)}, 3},
		{"a miss served by the owner's lease within a lead time is the lease", []ovm.LeaseStart{{Owner: "a", At: at(3)}},
			[]*ovm.MissCount{miss("a", 0, 5), miss("b", 0, 1)}, 2},
		{"another owner's lease serves no one else's miss", []ovm.LeaseStart{{Owner: "b", At: at(1)}},
			[]*ovm.MissCount{miss("a", 0, 5)}, 2},
		{"a lease long after the miss does not cancel it", []ovm.LeaseStart{{Owner: "a", At: at(30)}},
			[]*ovm.MissCount{miss("a", 0, 5)}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := len(ovm.Demand(c.leases, c.misses, lead)); got != c.want {
				t.Fatalf("%d vends of demand, want %d", got, c.want)
			}
		})
	}
}
