package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
)

// A pool whose target follows demand shows its target now and why, and a
// vend the stock cannot serve is counted as demand.
func TestAnAutoPoolShowsItsTargetAndKeepsItsMisses(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, func(p *ovm.Pool) {
		p.Stock.Target, p.Stock.Auto = 1, &ovm.AutoTarget{Min: 1, Max: 5, HitRatio: 0.99}
	})
	f.do("POST", "/v1/leases", f.user, `{}`).wantError(t, 503, "unavailable") // nothing made yet
	misses, err := f.store.MissList(context.Background(), "default", t0.Add(-time.Hour))
	if err != nil || len(misses) != 1 || misses[0].Owner != "alice" || misses[0].Count != 1 {
		t.Fatalf("misses %+v %v, want one of alice's", misses, err)
	}
	if evs, _, _ := f.store.EventList(context.Background(), &ovm.EventListParams{Pool: "default"}); len(evs) != 0 {
		t.Fatalf("a miss left events: %+v", evs)
	}
	var p client.Pool
	f.do("GET", "/v1/pools/default", f.user, "").json(t, &p)
	if p.Stock.Auto == nil || p.Stock.Auto.Max != 5 || p.Stock.Auto.HitRatio != 0.99 || !strings.HasPrefix(p.Stock.TargetWhy, "auto: ") ||
		p.Stock.Target < 1 || p.Stock.Target > 5 {
		t.Fatalf("stock %+v", p.Stock)
	}
}

// The reproduction of issue 20: 25 refused vends from one user key on an
// empty auto pool raised its target from 1 to 25, ordering real accounts.
// One owner's misses weigh like one waiting owner now, and an admin sees
// where the demand came from (engine's TestMissesRaiseATargetByAtMostHalf
// bounds how fast misses raise it).
func TestOneKeysRefusedVendsWeighLikeOneWaitingOwner(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, func(p *ovm.Pool) {
		p.Stock.Target, p.Stock.Ceiling = 1, 40
		p.Stock.Auto = &ovm.AutoTarget{Min: 1, Max: 30, HitRatio: 0.99}
		p.Lease.MaxPerOwner = 40
	})
	// estimate makes the refused vends of misses a minute before the
	// planner's next estimate (the last one is kept 5 minutes; the model
	// counts the demand of the last lead time, 5 minutes here).
	estimate := func(misses func()) int {
		t.Helper()
		f.clock.Advance(4 * time.Minute)
		misses()
		f.clock.Advance(time.Minute + time.Second)
		if _, err := f.eng.RunOnce(context.Background(), engine.WorkerPlanner); err != nil {
			t.Fatal(err)
		}
		var p client.Pool
		f.do("GET", "/v1/pools/default", f.admin, "").json(t, &p)
		return p.Stock.Target
	}
	alice := func() {
		for range 25 {
			f.do("POST", "/v1/leases", f.user, `{}`).wantError(t, 503, "unavailable")
		}
	}
	if got := estimate(alice); got > 2 {
		t.Fatalf("25 refused vends of one key took the target from 1 to %d", got)
	}
	// Ten owners waiting are ten vends of demand, seen by the admin.
	for i := range 10 {
		key := f.key(fmt.Sprintf("team-%d", i), ovm.RoleUser)
		f.do("POST", "/v1/leases", key, `{}`).wantError(t, 503, "unavailable")
	}
	var d client.Demand
	f.do("GET", "/v1/pools/default/demand", f.admin, "").json(t, &d)
	if d.Misses != 35 || d.Leases != 0 || len(d.Owners) != 11 || d.Owners[0].Owner != "alice" || d.Owners[0].Misses != 25 ||
		d.Owners[0].CountedMisses != 1 || d.CountedMisses != 11 || d.LeadTime != client.Duration(5*time.Minute) {
		t.Fatalf("demand %+v", d)
	}
	f.do("GET", "/v1/pools/default/demand", f.user, "").wantError(t, 403, "forbidden")
}
