package providertest

// This file holds the cases of ovm.Cleaner: a leased account, filled by its
// lessee, wiped after the lease and ready again.

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// CleanHarness shows the suite what a provider's ovm.Cleaner left in the
// account.
type CleanHarness struct {
	// Litter leaves resources in a's account as its lessee would, with the
	// lessee's credentials c (nil when the provider has no ovm.Access),
	// and returns how many.
	Litter func(ctx context.Context, a *ovm.Account, c *ovm.Credentials) (int, error)
	// Leftovers counts the resources in a's account that a wipe removes.
	Leftovers func(ctx context.Context, a *ovm.Account) (int, error)
	// Requires, when set, is called before a case cleans: it checks for
	// the cleaner's outside tool through internal/testtool (a skip on a
	// laptop without it, a failure under CI).
	Requires func(t testing.TB)
	// Timeout is a pass's CleanTimeout (default 5m).
	Timeout time.Duration
}

func (c *CleanHarness) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 5 * time.Minute
}

var cleanTests = []testCase{
	{"clean: a leased account is wiped after its lease and is ready again", testClean},
}

func cleanStep(cl ovm.Cleaner, policy ovm.RetirePolicy) step {
	return func(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) { return cl.Clean(ctx, a, policy) }
}

// endedLease ends a's lease as the engine does before cleaning: with
// ovm.Access, the revocation runs first (its own cases check it).
func endedLease(t *testing.T, h *Harness, a *ovm.Account) *ovm.Account {
	t.Helper()
	if acc, ok := h.Provider.(ovm.Access); ok {
		rev := ovm.Revocation{LeaseID: "lse_conformance", Before: h.Access.Now().Add(-time.Second), Principal: principal}
		if r := drive(t, h, a, revokeStep(acc, rev)); r.Status != ovm.StepDone {
			t.Fatalf("revoke before cleaning: %+v", r)
		}
	}
	a.State = ovm.AccountCleaning
	return a
}

func testClean(t *testing.T, h *Harness) {
	if h.Clean.Requires != nil {
		h.Clean.Requires(t)
	}
	ctx := context.Background()
	a := ready(t, h)
	a.State = ovm.AccountLeased
	left := func() int {
		t.Helper()
		n, err := h.Clean.Leftovers(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := left(); n != 0 {
		t.Fatalf("a fresh account holds %d resources a wipe would remove", n)
	}
	// The lessee fills the account with its own credentials.
	var c *ovm.Credentials
	acc, hasAccess := h.Provider.(ovm.Access)
	if hasAccess {
		c = session(t, h, a, time.Hour)
		if err := acc.Grant(ctx, a, principal); err != nil {
			t.Fatal(err)
		}
	}
	n, err := h.Clean.Litter(ctx, a, c)
	if err != nil || n == 0 {
		t.Fatalf("the lessee left %d resources (%v); the case needs some", n, err)
	}
	if got := left(); got < n {
		t.Fatalf("the harness sees %d of the %d resources the lessee left", got, n)
	}
	a = endedLease(t, h, a)
	policy := ovm.RetirePolicy{Mode: ovm.RetireRecycle, CleanTimeout: h.Clean.timeout(), CleanPasses: 2}
	if r := drive(t, h, a, cleanStep(h.Provider.(ovm.Cleaner), policy)); r.Status != ovm.StepDone {
		t.Fatalf("clean: %+v", r)
	}
	if got := left(); got != 0 {
		t.Fatalf("%d of the lessee's %d resources are left after the wipe", got, n)
	}
	// Ready again (FinishCleaning counts the generation): the next lease
	// gets a working session, and the last lease's principal is gone.
	a.State, a.Generation = ovm.AccountReady, a.Generation+1
	if hasAccess {
		if got, err := h.Access.Trusted(ctx, a); err != nil || slices.Contains(got, principal) {
			t.Fatalf("the recycled account's role trusts %v (%v): the last lease's principal is still there", got, err)
		}
		c := session(t, h, a, time.Hour)
		opens(t, h, a, c)
		if d, err := h.Access.Denied(ctx, a, h.Access.Now()); err != nil || d {
			t.Fatalf("a session of the next lease is denied (%v)", err)
		}
	}
}
