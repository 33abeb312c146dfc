package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/sim"
)

// Refused vends are a guess at demand: however many owners miss, they
// raise an auto target above what the leases call for by at most half of
// it (at least one) per estimate.
func TestMissesRaiseATargetByAtMostHalfPerEstimate(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) {
		p.Stock.Target, p.Stock.Ceiling = 1, 40
		p.Stock.Auto = &ovm.AutoTarget{Min: 1, Max: 30, HitRatio: 0.99}
	}))
	ctx := context.Background()
	estimate := func() int {
		t.Helper()
		// Twenty owners each miss a minute before the estimate (the last
		// is kept 5 minutes; the model counts the last lead time's demand).
		w.clock.Advance(4 * time.Minute)
		for i := range 20 {
			if err := w.eng.RecordMiss(ctx, "default", fmt.Sprint("owner-", i)); err != nil {
				t.Fatal(err)
			}
		}
		w.clock.Advance(time.Minute + time.Second)
		st, err := w.eng.StockStatus(ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		return st.Policy.Stock.Target
	}
	prev := 1
	var seen []int
	for range 6 {
		got := estimate()
		if got > prev+max(1, prev/2) {
			t.Fatalf("misses raised the target from %d to %d in one estimate (so far %v)", prev, got, seen)
		}
		seen = append(seen, got)
		prev = got
	}
	if want := []int{2, 3, 4, 6, 9, 13}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("targets %v, want %v: half of the target per estimate while twenty owners wait", seen, want)
	}
}
