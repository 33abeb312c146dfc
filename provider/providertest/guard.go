package providertest

// This file holds the cases of ovm.Guardrailer: a template's guardrails
// put on a leased account once whatever the retries, checked, put back,
// and taken off.

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// GuardHarness shows the suite what a provider's ovm.Guardrailer did, as
// far as the backend can (moto stores and attaches SCPs but enforces
// none; the simulation keeps its own record).
type GuardHarness struct {
	// Attached returns the content of the guardrail document OVM attached
	// to a ("" for none) and the organization's policies attached to it by
	// id (not FullAWSAccess).
	Attached func(ctx context.Context, a *ovm.Account) (doc string, ids []string, err error)
	// Made counts the guardrail policies OVM made for template.
	Made func(ctx context.Context, template string) (int, error)
	// TakeOff detaches everything of g from a, as an admin would by hand.
	TakeOff func(ctx context.Context, a *ovm.Account, g ovm.Guard) error
	// OrgPolicy returns the id of one of the organization's own policies
	// ("" when the backend has none).
	OrgPolicy func(ctx context.Context) (string, error)
}

var guardTests = []testCase{
	{"guard: a template's guardrails are put on once, whatever the retries and lost answers", testGuardOnce},
	{"guard: guardrails taken off by hand are found and put back", testGuardCheck},
	{"guard: unguard takes off what guard put on, and only that, idempotently", testUnguard},
}

var collectTests = []testCase{
	{"guard: a version no lease uses is deleted after the grace, the current and the attached stay", testCollect},
}

// doc is a guardrail document as package guardrail writes them (the
// suite needs no more than a valid SCP).
func doc(region string) string {
	return `{"Version":"2012-10-17","Statement":[{"Sid":"OVMDenyOtherRegions","Effect":"Deny","NotAction":["iam:*","sts:*"],"Resource":["*"],` +
		`"Condition":{"StringNotEquals":{"aws:RequestedRegion":["` + region + `"]}}}]}`
}

func guardOf(t *testing.T, h *Harness, version, region string) ovm.Guard {
	t.Helper()
	g := ovm.Guard{Template: "conformance", Version: version, Document: doc(region)}
	if h.Guard.OrgPolicy != nil {
		id, err := h.Guard.OrgPolicy(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if id != "" {
			g.PolicyIDs = []string{id}
		}
	}
	return g
}

func wantAttached(t *testing.T, h *Harness, a *ovm.Account, g ovm.Guard) {
	t.Helper()
	got, ids, err := h.Guard.Attached(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(got, g.Document) || !slices.Equal(ids, g.PolicyIDs) {
		t.Fatalf("attached %q and %v, want %q and %v", got, ids, g.Document, g.PolicyIDs)
	}
}

func sameJSON(a, b string) bool {
	strip := func(s string) string { return strings.Join(strings.Fields(s), "") }
	return strip(a) == strip(b)
}

func testGuardOnce(t *testing.T, h *Harness) {
	ctx := context.Background()
	gr := h.Provider.(ovm.Guardrailer)
	a, b := ready(t, h), ready(t, h)
	g := guardOf(t, h, "000000000001", "eu-west-1")
	// A transient failure, then the retry.
	h.FailNext("guard")
	if err := gr.Guard(ctx, a, g); err == nil {
		t.Fatal("an injected failure of guard did not fail it")
	}
	// A guard whose answer was lost (or whose replica died before the
	// store recorded it) is done again: nothing is made twice.
	for range 3 {
		if err := gr.Guard(ctx, a, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := gr.Guard(ctx, b, g); err != nil {
		t.Fatal(err)
	}
	wantAttached(t, h, a, g)
	wantAttached(t, h, b, g)
	if n, err := h.Guard.Made(ctx, g.Template); err != nil || n != 1 {
		t.Fatalf("%d guardrail policies made for one version on two accounts (%v), want 1", n, err)
	}
	if problem, err := gr.GuardCheck(ctx, a, g); err != nil || problem != "" {
		t.Fatalf("check of guardrails in place: %q %v", problem, err)
	}
	// A new version is a new policy; each account keeps its own.
	g2 := guardOf(t, h, "000000000002", "eu-central-1")
	if err := gr.Guard(ctx, b, g2); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.Guard.Made(ctx, g.Template); n != 2 {
		t.Fatalf("%d policies after a second version, want 2", n)
	}
	wantAttached(t, h, a, g)
}

func testGuardCheck(t *testing.T, h *Harness) {
	ctx := context.Background()
	gr := h.Provider.(ovm.Guardrailer)
	a := ready(t, h)
	g := guardOf(t, h, "000000000003", "eu-west-1")
	if err := gr.Guard(ctx, a, g); err != nil {
		t.Fatal(err)
	}
	if err := h.Guard.TakeOff(ctx, a, g); err != nil {
		t.Fatal(err)
	}
	if problem, err := gr.GuardCheck(ctx, a, g); err != nil || problem == "" {
		t.Fatalf("check after the guardrails were taken off by hand: %q %v", problem, err)
	}
	if err := gr.Guard(ctx, a, g); err != nil {
		t.Fatal(err)
	}
	wantAttached(t, h, a, g)
	if problem, _ := gr.GuardCheck(ctx, a, g); problem != "" {
		t.Fatalf("check once put back: %q", problem)
	}
}

func testUnguard(t *testing.T, h *Harness) {
	ctx := context.Background()
	gr := h.Provider.(ovm.Guardrailer)
	a, b := ready(t, h), ready(t, h)
	g := guardOf(t, h, "000000000004", "eu-west-1")
	for _, acct := range []*ovm.Account{a, b} {
		if err := gr.Guard(ctx, acct, g); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if r, err := gr.Unguard(ctx, a, ovm.Guard{Template: g.Template, Version: g.Version, PolicyIDs: g.PolicyIDs}); err != nil || r.Status != ovm.StepDone {
			t.Fatalf("unguard: %+v %v", r, err)
		}
	}
	if doc, ids, err := h.Guard.Attached(ctx, a); err != nil || doc != "" || len(ids) != 0 {
		t.Fatalf("after unguard: %q %v %v", doc, ids, err)
	}
	if problem, _ := gr.GuardCheck(ctx, a, g); problem == "" {
		t.Fatal("the check finds nothing missing on an unguarded account")
	}
	wantAttached(t, h, b, g) // the other lease's account keeps its guardrails
}

// testCollect: a version no account has on and keep does not name is
// deleted once unused for the grace (1h, the default of both providers),
// never before; the current version and one still on an account stay; a
// vend of a deleted version (a replica with an older configuration) makes
// it again.
func testCollect(t *testing.T, h *Harness) {
	ctx := context.Background()
	gr := h.Provider.(ovm.Guardrailer)
	gc := h.Provider.(ovm.GuardrailCollector)
	a, b := ready(t, h), ready(t, h)
	onA := guardOf(t, h, "000000000005", "eu-west-1")     // old, still on a's lease
	unused := guardOf(t, h, "000000000006", "eu-west-2")  // old, no lease
	current := guardOf(t, h, "000000000007", "eu-west-3") // the template's now, no lease yet
	if err := gr.Guard(ctx, a, onA); err != nil {
		t.Fatal(err)
	}
	for _, g := range []ovm.Guard{unused, current} {
		if err := gr.Guard(ctx, b, g); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := gr.Unguard(ctx, b, ovm.Guard{Template: current.Template, Version: current.Version, PolicyIDs: current.PolicyIDs}); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("unguard: %+v %v", r, err)
	}
	collect := func() ovm.GuardrailCollection {
		t.Helper()
		res, err := gc.CollectGuardrails(ctx, []ovm.Guard{current})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	made := func() int {
		t.Helper()
		n, err := h.Guard.Made(ctx, onA.Template)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if res := collect(); len(res.Unused) != 1 || len(res.Deleted) != 0 {
		t.Fatalf("first collection: %+v, want one policy marked unused", res)
	}
	h.Advance(59 * time.Minute)
	if res := collect(); len(res.Deleted) != 0 || made() != 3 {
		t.Fatalf("59 minutes later: %+v, %d policies, want none deleted", res, made())
	}
	h.Advance(time.Minute)
	if res := collect(); len(res.Deleted) != 1 || made() != 2 {
		t.Fatalf("after the grace: %+v, %d policies, want the unused one deleted", res, made())
	}
	h.Advance(3 * time.Hour)
	if res := collect(); len(res.Unused)+len(res.Deleted) != 0 || made() != 2 {
		t.Fatalf("the current version and the attached one: %+v, %d policies", res, made())
	}
	wantAttached(t, h, a, onA)
	if err := gr.Guard(ctx, b, unused); err != nil {
		t.Fatalf("a vend of a deleted version: %v", err)
	}
	wantAttached(t, h, b, unused)
}
