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
