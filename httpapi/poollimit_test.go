package httpapi_test

import (
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
)

// Under the defaults one key cannot drain a pool: a pool of 4 lets one key
// hold 2 (half the ceiling). The key at the pool's limit gets 429 naming
// lease.max_per_owner, from POST /v1/leases and GET /vend alike; another
// key still gets an account, and a release frees a slot.
func TestAKeyAtThePoolsLimitIsRefusedWhileOthersStillVend(t *testing.T) {
	f := newFixtureVend(t, httpapi.Config{}, engine.VendConfig{LeasesPerOwner: 100}, func(p *ovm.Pool) {
		p.Stock = ovm.StockPolicy{Target: 4, Ceiling: 4}
	})
	f.fill()
	var held []string
	for range 2 {
		r := f.do("POST", "/v1/leases", f.user, `{}`)
		if r.status != 201 {
			t.Fatalf("lease: %d %s", r.status, r.body)
		}
		held = append(held, r.header.Get("Location"))
	}
	const want = `alice already holds 2 active leases in pool "default", its lease.max_per_owner: release one first`
	if msg := f.do("POST", "/v1/leases", f.user, `{}`).wantError(t, 429, "limit_exceeded"); msg != want {
		t.Errorf("POST /v1/leases at the pool's limit: %q, want %q", msg, want)
	}
	if msg := f.do("GET", "/vend", f.user, "").wantError(t, 429, "limit_exceeded"); msg != want {
		t.Errorf("GET /vend at the pool's limit: %q, want %q", msg, want)
	}
	bob := f.key("bob", ovm.RoleUser)
	if r := f.do("GET", "/vend", bob, ""); r.status != 200 || !vendRe.Match(r.body) {
		t.Fatalf("another key, GET /vend: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/v1/leases", bob, `{}`); r.status != 201 {
		t.Fatalf("another key, POST /v1/leases: %d %s", r.status, r.body)
	}
	if r := f.do("DELETE", held[0], f.user, ""); r.status != 200 {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	f.fill()
	if r := f.do("GET", "/vend", f.user, ""); r.status != 200 {
		t.Fatalf("after a release: %d %s", r.status, r.body)
	}
}

// The limit over all pools, when it is the stricter one, is named as
// api.leases_per_owner, not as the pool's.
func TestTheLimitOverAllPoolsIsNamedApart(t *testing.T) {
	f := newFixtureVend(t, httpapi.Config{}, engine.VendConfig{LeasesPerOwner: 1}, func(p *ovm.Pool) {
		p.Lease.MaxPerOwner = 3
	})
	f.fill()
	if r := f.do("GET", "/vend", f.user, ""); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, vend := range []func() resp{
		func() resp { return f.do("GET", "/vend", f.user, "") },
		func() resp { return f.do("POST", "/v1/leases", f.user, `{}`) },
	} {
		msg := vend().wantError(t, 429, "limit_exceeded")
		if !strings.Contains(msg, "api.leases_per_owner") || strings.Contains(msg, "max_per_owner") {
			t.Errorf("the limit over all pools: %q", msg)
		}
	}
}
