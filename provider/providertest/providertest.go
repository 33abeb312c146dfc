// Package providertest is the conformance suite every ovm.Provider must
// pass: idempotent starts, explicit outcomes (pending, done, failed with a
// nil error), transient failures as errors, and closure done only when
// observed. A provider package calls Run with a Harness factory.
package providertest

import (
	"context"
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
	// FailNext makes the next call of op ("create", "bootstrap", "close")
	// fail transiently. Required.
	FailNext func(op string)
	// FailDefinitively makes calls of op fail for good with reason until
	// cleared with an empty reason. Required.
	FailDefinitively func(op, reason string)
	// MaxPolls bounds each poll loop (default 100).
	MaxPolls int
}

// NewHarness returns a fresh harness for one test.
type NewHarness func(t *testing.T) *Harness

// Run runs the suite.
func Run(t *testing.T, newHarness NewHarness) {
	tests := []struct {
		name string
		fn   func(*testing.T, *Harness)
	}{
		{"reserve derives a stable, unique name and e-mail from the id", testReserve},
		{"an account goes through create, bootstrap and close", testLifecycle},
		{"starting a create twice finds the first request", testIdempotentStart},
		{"bootstrap and close are idempotent", testIdempotentSteps},
		{"a transient failure is an error and the retry converges", testTransient},
		{"a definitive failure is a failed result with a nil error", testDefinitive},
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

// NewAccount returns a pending account reserved by p.
func NewAccount(p ovm.Provider) *ovm.Account {
	id := ovm.NewID("acc", time.Now())
	name, email := p.Reserve(id)
	return ovm.NewPendingAccount(id, "conformance", name, email, time.Now())
}

type step func(context.Context, *ovm.Account) (ovm.StepResult, error)

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
			return r
		case ovm.StepPending:
			if r.Wait < 0 {
				t.Fatalf("pending with negative wait %s", r.Wait)
			}
			if r.ExternalRef != "" {
				a.ExternalRef = r.ExternalRef
			}
			h.Advance(max(r.Wait, 10*time.Millisecond))
		default:
			t.Fatalf("result with unknown status %q: %+v", r.Status, r)
		}
	}
	t.Fatalf("still pending after %d polls", h.MaxPolls)
	return ovm.StepResult{}
}

func create(t *testing.T, h *Harness) *ovm.Account {
	t.Helper()
	a := NewAccount(h.Provider)
	r := drive(t, h, a, h.Provider.Create)
	if r.Status != ovm.StepDone || !ovm.IsAWSAccountID(r.AWSAccountID) {
		t.Fatalf("create: %+v, want done with a 12-digit id", r)
	}
	if r.ExternalRef != "" {
		a.ExternalRef = r.ExternalRef
	}
	a.AWSAccountID = r.AWSAccountID
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
	a := create(t, h)
	a.RoleARN = bootstrap(t, h, a)
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
	if h.FailNext == nil {
		t.Fatal("the harness must provide FailNext")
	}
	for _, op := range []string{"create", "bootstrap", "close"} {
		t.Run(op, func(t *testing.T) {
			a := NewAccount(h.Provider)
			if op != "create" {
				a = create(t, h)
			}
			if op == "close" {
				bootstrap(t, h, a)
			}
			fn := map[string]step{"create": h.Provider.Create, "bootstrap": h.Provider.Bootstrap, "close": h.Provider.Close}[op]
			h.FailNext(op)
			if r, err := fn(context.Background(), a); err == nil {
				t.Fatalf("injected failure returned %+v and no error", r)
			}
			if r := drive(t, h, a, fn); r.Status != ovm.StepDone {
				t.Fatalf("after the transient failure: %+v", r)
			}
		})
	}
}

func testDefinitive(t *testing.T, h *Harness) {
	if h.FailDefinitively == nil {
		t.Fatal("the harness must provide FailDefinitively")
	}
	h.FailDefinitively("create", "EMAIL_ALREADY_EXISTS")
	a := NewAccount(h.Provider)
	r, err := h.Provider.Create(context.Background(), a)
	h.FailDefinitively("create", "")
	if err != nil || r.Status != ovm.StepFailed || !strings.Contains(r.Reason, "EMAIL_ALREADY_EXISTS") {
		t.Fatalf("got %+v, %v; want a failed result naming the reason and no error", r, err)
	}
	b := create(t, h)
	h.FailDefinitively("bootstrap", "ACCESS_DENIED")
	r, err = h.Provider.Bootstrap(context.Background(), b)
	h.FailDefinitively("bootstrap", "")
	if err != nil || r.Status != ovm.StepFailed {
		t.Fatalf("bootstrap: %+v, %v", r, err)
	}
}
