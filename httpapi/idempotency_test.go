package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/httpapi"
)

// A client that lost a vend's answer and retries with the same
// Idempotency-Key gets the first lease, not a second account.
func TestAVendWithAnIdempotencyKeyIsMadeOnce(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	ready := func() int {
		c, _ := f.store.PoolCounts(context.Background(), "default")
		return c.ByState[ovm.AccountReady]
	}
	before := ready()
	var first, again client.Lease
	r := f.do("POST", "/v1/leases", f.user, `{"ttl": "30m"}`, "Idempotency-Key", "3f1c-retry-1")
	r.json(t, &first)
	if r.status != 201 || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %s replayed=%q", r.status, r.body, r.header.Get("Idempotent-Replayed"))
	}
	r = f.do("POST", "/v1/leases", f.user, `{"ttl": "30m"}`, "Idempotency-Key", "3f1c-retry-1")
	r.json(t, &again)
	if r.status != 201 || again.ID != first.ID || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("Location") != "/v1/leases/"+first.ID {
		t.Fatalf("retry: %d %+v replayed=%q", r.status, again, r.header.Get("Idempotent-Replayed"))
	}
	if got := ready(); got != before-1 {
		t.Fatalf("%d ready after a vend and its retry, want %d", got, before-1)
	}
	// The seed's /vend takes a key too, and answers its body again.
	v1 := f.do("GET", "/vend", f.user, "", "Idempotency-Key", "vend-1")
	v2 := f.do("POST", "/vend", f.user, "", "Idempotency-Key", "vend-1")
	if v1.status != 200 || string(v1.body) != string(v2.body) || v2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("/vend retried: %d %s, then %d %s", v1.status, v1.body, v2.status, v2.body)
	}
	// Another owner's key of the same value is another vend.
	var other client.Lease
	f.do("POST", "/v1/leases", f.admin, `{}`, "Idempotency-Key", "3f1c-retry-1").json(t, &other)
	if other.ID == "" || other.ID == first.ID {
		t.Fatalf("another owner's key: %+v", other)
	}
	// A key used for another pool is refused, not answered with a lease of
	// the wrong pool.
	if msg := f.do("POST", "/v1/leases", f.user, `{"pool": "nope"}`, "Idempotency-Key", "3f1c-retry-1").wantError(t, 404, "not_found"); !strings.Contains(msg, "nope") {
		t.Fatalf("unknown pool: %q", msg)
	}
	for _, bad := range [][]string{
		{"Idempotency-Key", strings.Repeat("k", 256)},
		{"Idempotency-Key", "héllo"},
		{"Idempotency-Key", "two words"},
		{"Idempotency-Key", "a", "Idempotency-Key", "b"},
	} {
		f.do("POST", "/v1/leases", f.user, `{}`, bad...).wantError(t, 400, "invalid")
	}
	if got := ready(); got != before-3 {
		t.Fatalf("%d ready after three vends, want %d", got, before-3)
	}
}
