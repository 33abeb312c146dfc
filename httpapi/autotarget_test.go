package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/httpapi"
)

// A pool whose target follows demand shows its target now and why, and a
// vend the stock cannot serve is kept as demand.
func TestAnAutoPoolShowsItsTargetAndKeepsItsMisses(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, func(p *ovm.Pool) {
		p.Stock.Target, p.Stock.Auto = 1, &ovm.AutoTarget{Min: 1, Max: 5, HitRatio: 0.99}
	})
	f.do("POST", "/v1/leases", f.user, `{}`).wantError(t, 503, "unavailable") // nothing made yet
	evs, _, err := f.store.EventList(context.Background(), &ovm.EventListParams{Pool: "default"})
	if err != nil {
		t.Fatal(err)
	}
	misses := 0
	for _, e := range evs {
		if e.Kind == ovm.EventMiss {
			misses++
		}
	}
	if misses != 1 {
		t.Fatalf("%d misses recorded, want 1: %+v", misses, evs)
	}
	var p httpapi.Pool
	f.do("GET", "/v1/pools/default", f.user, "").json(t, &p)
	if p.Stock.Auto == nil || p.Stock.Auto.Max != 5 || p.Stock.Auto.HitRatio != 0.99 || !strings.HasPrefix(p.Stock.TargetWhy, "auto: ") ||
		p.Stock.Target < 1 || p.Stock.Target > 5 {
		t.Fatalf("stock %+v", p.Stock)
	}
}
