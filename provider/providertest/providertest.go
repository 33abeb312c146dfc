// Package providertest is the conformance suite every ovm.Provider runs:
// idempotent starts, explicit outcomes (pending, done, failed with a nil
// error), transient failures as errors, and closure done only when
// observed. For the optional capabilities a provider has, it goes on:
// ovm.Access (a lessee's credentials, the console sign-in, a granted
// principal, the revocation at the lease's end) and ovm.Cleaner (a leased
// account wiped and ready again). A provider package calls Run with a
// Harness factory; the harness advances time, injects failures and shows
// the suite what happened in the account, as far as its backend can.
package providertest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// Harness is one fresh provider under test and the knobs the suite needs.
type Harness struct {
	Provider ovm.Provider
	// Advance moves the provider's clock forward by d (a fake clock), or
	// sleeps for real providers. Required.
	Advance func(d time.Duration)
	// FailNext makes the next call of op that reaches the provider's
	// backend fail transiently. The ops are "create", "bootstrap" and
	// "close"; "revoke" for a provider with ovm.Access, "clean" for one
	// with ovm.Cleaner. Required.
	FailNext func(op string)
	// FailDefinitively makes calls of op ("create", "bootstrap") fail for
	// good with reason until cleared with an empty reason. Required.
	FailDefinitively func(op, reason string)
	// NoDefinitive names the ops that cannot fail for good on this
	// provider, each with the reason (the suite logs it). A provider that
	// treats every failure of a step as transient, to be retried and then
	// quarantined by the engine, lists that step here.
	NoDefinitive map[string]string
	// MaxPolls bounds each poll loop (default 100).
	MaxPolls int
	// Access shows the effects of ovm.Access. Required when the provider
	// has it.
	Access *AccessHarness
	// Clean shows the effects of ovm.Cleaner. Required when the provider
	// has it.
	Clean *CleanHarness
	// Guard shows the effects of ovm.Guardrailer. Required when the
	// provider has it; FailNext then takes "guard".
	Guard *GuardHarness
}

// NewHarness returns a fresh harness for one test.
type NewHarness func(t *testing.T) *Harness

type testCase struct {
	name string
	fn   func(*testing.T, *Harness)
}

// Run runs the suite. A first subtest builds one harness to learn which
// capabilities the provider has, and fails when the harness cannot show
// one of them; the cases of each capability follow.
func Run(t *testing.T, newHarness NewHarness) {
	var hasAccess, hasCleaner, hasGuard, hasCollect bool
	ok := t.Run("the harness covers every capability of the provider", func(t *testing.T) {
		h := newHarness(t)
		_, hasAccess = h.Provider.(ovm.Access)
		_, hasCleaner = h.Provider.(ovm.Cleaner)
		_, hasGuard = h.Provider.(ovm.Guardrailer)
		_, hasCollect = h.Provider.(ovm.GuardrailCollector)
		if h.Advance == nil || h.FailNext == nil || h.FailDefinitively == nil {
			t.Fatal("the harness must provide Advance, FailNext and FailDefinitively")
		}
		if hasAccess && (h.Access == nil || h.Access.Now == nil || h.Access.Trusted == nil || h.Access.Denied == nil || h.Access.SignIn == nil) {
			t.Fatal("the provider implements ovm.Access: the harness must show its effects (Harness.Access: Now, Trusted, Denied, SignIn)")
		}
		if hasCleaner && (h.Clean == nil || h.Clean.Litter == nil || h.Clean.Leftovers == nil) {
			t.Fatal("the provider implements ovm.Cleaner: the harness must show its effects (Harness.Clean: Litter, Leftovers)")
		}
		if hasGuard && (h.Guard == nil || h.Guard.Attached == nil || h.Guard.Made == nil || h.Guard.TakeOff == nil) {
			t.Fatal("the provider implements ovm.Guardrailer: the harness must show its effects (Harness.Guard: Attached, Made, TakeOff)")
		}
		t.Logf("ovm.Access: %v, ovm.Cleaner: %v, ovm.Guardrailer: %v, ovm.GuardrailCollector: %v", hasAccess, hasCleaner, hasGuard, hasCollect)
	})
	if !ok {
		return
	}
	tests := []testCase{
		{"reserve derives a stable, unique name and e-mail from the id", testReserve},
		{"an account goes through create, bootstrap and close", testLifecycle},
		{"starting a create twice finds the first request", testIdempotentStart},
		{"bootstrap and close are idempotent", testIdempotentSteps},
		{"a transient failure is an error and the retry converges", testTransient},
		{"a definitive failure is a failed result with a nil error", testDefinitive},
	}
	if hasAccess {
		tests = append(tests, accessTests...)
	}
	if hasCleaner {
		tests = append(tests, cleanTests...)
	}
	if hasGuard {
		tests = append(tests, guardTests...)
	}
	if hasGuard && hasCollect {
		tests = append(tests, collectTests...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if h.MaxPolls == 0 {
				h.MaxPolls = 100
			}
			tc.fn(t, h)
		})
	}
}

// RunGuard runs the guardrail cases only, for an ovm.Guardrailer that
// works apart from how its accounts are made (roleaccess.Direct on a
// management account's vended role): h.Provider makes the accounts the
// cases need and is the Guardrailer; h.Guard shows its effects, and
// h.FailNext takes "guard". The provider's own suite (Run) may then leave
// the Guardrailer out of its harness, when making an account there is
// dear (a sign-up in a browser).
func RunGuard(t *testing.T, newHarness NewHarness) {
	for _, tc := range guardTests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if _, ok := h.Provider.(ovm.Guardrailer); !ok || h.Guard == nil || h.Guard.Attached == nil || h.Guard.Made == nil || h.Guard.TakeOff == nil {
				t.Fatal("RunGuard needs a Guardrailer and Harness.Guard: Attached, Made, TakeOff")
			}
			if h.MaxPolls == 0 {
				h.MaxPolls = 100
			}
			tc.fn(t, h)
		})
	}
}

// NewAccount returns a pending account reserved by p.
func NewAccount(p ovm.Provider) *ovm.Account {
	id := ovm.NewID("acc", time.Now())
	name, email := p.Reserve(id)
	return ovm.NewPendingAccount(id, "conformance", name, email, time.Now())
}

type step func(context.Context, *ovm.Account) (ovm.StepResult, error)

// record keeps what a step result tells about the account, as the engine
// does between two calls: the request's reference and the progress.
func record(a *ovm.Account, r ovm.StepResult) {
	if r.ExternalRef != "" {
		a.ExternalRef = r.ExternalRef
	}
	ovm.MergeProgress(&ovm.AccountUpdate{Account: a}, r.Progress)
}

// drive calls fn until it is no longer pending, advancing time by each
// result's Wait. A transient error fails the test.
func drive(t *testing.T, h *Harness, a *ovm.Account, fn step) ovm.StepResult {
	t.Helper()
	for range h.MaxPolls {
		r, err := fn(context.Background(), a)
		if err != nil {
			t.Fatalf("unexpected transient error: %v", err)
		}
		switch r.Status {
		case ovm.StepDone, ovm.StepFailed:
			record(a, r)
			return r
		case ovm.StepPending:
			if r.Wait < 0 {
				t.Fatalf("pending with negative wait %s", r.Wait)
			}
			record(a, r)
			h.Advance(max(r.Wait, 10*time.Millisecond))
		default:
			t.Fatalf("result with unknown status %q: %+v", r.Status, r)
		}
	}
	t.Fatalf("still pending after %d polls", h.MaxPolls)
	return ovm.StepResult{}
}

// failFirst calls fn after a failure was injected: a pending step goes on
// until the failure surfaces, which must be an error before the step is
// done. The failed attempt is counted on the account, as the engine does.
func failFirst(t *testing.T, h *Harness, a *ovm.Account, fn step) {
	t.Helper()
	for range h.MaxPolls {
		r, err := fn(context.Background(), a)
		if err != nil {
			a.Attempts++
			return
		}
		if r.Status != ovm.StepPending {
			t.Fatalf("the injected failure never surfaced: the step ended %+v and no error", r)
		}
		record(a, r)
		h.Advance(max(r.Wait, 10*time.Millisecond))
	}
	t.Fatalf("the injected failure did not surface in %d polls", h.MaxPolls)
}

func create(t *testing.T, h *Harness) *ovm.Account {
	t.Helper()
	a := NewAccount(h.Provider)
	r := drive(t, h, a, h.Provider.Create)
	if r.Status != ovm.StepDone || !ovm.IsAWSAccountID(r.AWSAccountID) {
		t.Fatalf("create: %+v, want done with a 12-digit id", r)
	}
	a.AWSAccountID = r.AWSAccountID
	a.State = ovm.AccountBootstrapping
	return a
}

func bootstrap(t *testing.T, h *Harness, a *ovm.Account) string {
	t.Helper()
	r := drive(t, h, a, h.Provider.Bootstrap)
	if r.Status != ovm.StepDone {
		t.Fatalf("bootstrap: %+v", r)
	}
	if !strings.HasPrefix(r.RoleARN, "arn:aws:iam::"+a.AWSAccountID+":role/") {
		t.Fatalf("role %q is not a role of account %s", r.RoleARN, a.AWSAccountID)
	}
	return r.RoleARN
}

// ready returns an account created and bootstrapped, its role recorded.
func ready(t *testing.T, h *Harness) *ovm.Account {
	t.Helper()
	a := create(t, h)
	a.RoleARN = bootstrap(t, h, a)
	a.State = ovm.AccountReady
	return a
}

func testReserve(t *testing.T, h *Harness) {
	n1, e1 := h.Provider.Reserve("acc_one")
	n1b, e1b := h.Provider.Reserve("acc_one")
	n2, e2 := h.Provider.Reserve("acc_two")
	if n1 != n1b || e1 != e1b {
		t.Errorf("reserve is not deterministic: %s/%s vs %s/%s", n1, e1, n1b, e1b)
	}
	if n1 == n2 || e1 == e2 || !strings.Contains(e1, "@") || n1 == "" {
		t.Errorf("reserve gave %q %q and %q %q", n1, e1, n2, e2)
	}
}

func testLifecycle(t *testing.T, h *Harness) {
	a := ready(t, h)
	r := drive(t, h, a, h.Provider.Close)
	if r.Status != ovm.StepDone {
		t.Fatalf("close: %+v", r)
	}
}

func testIdempotentStart(t *testing.T, h *Harness) {
	a := NewAccount(h.Provider)
	r1, err := h.Provider.Create(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	// The response is "lost": the account is still stored without a ref.
	r2, err := h.Provider.Create(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if r1.ExternalRef == "" || r1.ExternalRef != r2.ExternalRef {
		t.Fatalf("two starts gave refs %q and %q, want one request", r1.ExternalRef, r2.ExternalRef)
	}
	done := drive(t, h, a, h.Provider.Create)
	again := NewAccount(h.Provider)
	again.ID, again.Name, again.Email = a.ID, a.Name, a.Email
	again.ExternalRef = ""
	r3 := drive(t, h, again, h.Provider.Create)
	if done.AWSAccountID == "" || r3.AWSAccountID != done.AWSAccountID {
		t.Fatalf("a start after completion gave account %q, first was %q", r3.AWSAccountID, done.AWSAccountID)
	}
	other := create(t, h)
	if other.AWSAccountID == done.AWSAccountID {
		t.Fatal("two different reservations got the same AWS account")
	}
}

func testIdempotentSteps(t *testing.T, h *Harness) {
	a := create(t, h)
	role := bootstrap(t, h, a)
	if again := bootstrap(t, h, a); again != role {
		t.Fatalf("second bootstrap gave %q, first %q", again, role)
	}
	for i := range 2 {
		if r := drive(t, h, a, h.Provider.Close); r.Status != ovm.StepDone {
			t.Fatalf("close #%d: %+v", i+1, r)
		}
	}
}

func testTransient(t *testing.T, h *Harness) {
	ops := []string{"create", "bootstrap", "close"}
	acc, hasAccess := h.Provider.(ovm.Access)
	cl, hasCleaner := h.Provider.(ovm.Cleaner)
	if hasAccess {
		ops = append(ops, "revoke")
	}
	if hasCleaner {
		ops = append(ops, "clean")
	}
	for _, op := range ops {
		t.Run(op, func(t *testing.T) {
			var (
				a  *ovm.Account
				fn step
			)
			switch op {
			case "create":
				a, fn = NewAccount(h.Provider), h.Provider.Create
			case "bootstrap":
				a, fn = create(t, h), h.Provider.Bootstrap
			case "close":
				a, fn = ready(t, h), h.Provider.Close
			case "revoke":
				a, fn = ready(t, h), revokeStep(acc, ovm.Revocation{LeaseID: "lse_conformance",
					Before: h.Access.Now().Add(-time.Minute), Principal: principal})
			case "clean":
				if h.Clean.Requires != nil {
					h.Clean.Requires(t)
				}
				a = endedLease(t, h, ready(t, h))
				fn = cleanStep(cl, ovm.RetirePolicy{Mode: ovm.RetireRecycle, CleanTimeout: h.Clean.timeout(), CleanPasses: 1})
			}
			h.FailNext(op)
			failFirst(t, h, a, fn)
			if r := drive(t, h, a, fn); r.Status != ovm.StepDone {
				t.Fatalf("after the transient failure: %+v", r)
			}
		})
	}
}

func testDefinitive(t *testing.T, h *Harness) {
	for _, c := range []struct{ op, reason string }{{"create", "EMAIL_ALREADY_EXISTS"}, {"bootstrap", "ACCESS_DENIED"}} {
		t.Run(c.op, func(t *testing.T) {
			if why, ok := h.NoDefinitive[c.op]; ok {
				t.Logf("%s has no definitive failure on this provider: %s", c.op, why)
				return
			}
			a, fn := NewAccount(h.Provider), h.Provider.Create
			if c.op == "bootstrap" {
				a, fn = create(t, h), h.Provider.Bootstrap
			}
			h.FailDefinitively(c.op, c.reason)
			defer h.FailDefinitively(c.op, "")
			r := drive(t, h, a, fn)
			if r.Status != ovm.StepFailed || r.Reason == "" {
				t.Fatalf("got %+v; want a failed result saying why and no error", r)
			}
			if c.op == "create" && !strings.Contains(r.Reason, c.reason) {
				t.Fatalf("the reason %q does not name AWS's %s", r.Reason, c.reason)
			}
		})
	}
}

// sameSet reports whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
