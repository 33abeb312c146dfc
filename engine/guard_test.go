package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/guardrail"
	"github.com/ovmdev/ovm/provider/sim"
)

// guardedTemplate is a template of the default pool with a region deny,
// its document built as the configuration builds it.
func guardedTemplate(t *testing.T) ovm.Template {
	tpl := ovm.Template{Name: "eu-only", Pool: "default",
		Lease:      ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, MinTTL: time.Minute, MaxPerOwner: 5},
		Guardrails: ovm.Guardrails{Regions: []string{"eu-west-1"}, Policies: []string{"p-orgpolicy1"}}}
	d, err := guardrail.Check(tpl.Guardrails, guardrail.Options{ExemptRole: "OrganizationAccountAccessRole"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tpl.GuardrailDocument, tpl.GuardrailVersion = d.JSON(), d.Hash()
	return tpl
}

func guardedVend(t *testing.T, w *world) (*ovm.Lease, error) {
	t.Helper()
	l, _, err := w.eng.Vend(context.Background(), &engine.VendRequest{Template: "eu-only", Owner: "alice",
		Requester: ovm.Requester{Kind: "key", Name: "alice"}})
	return l, err
}

func (w *world) account(id string) *ovm.Account {
	w.t.Helper()
	a, err := w.store.AccountGet(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// A lease of a guarded template has its guardrails on its account before
// the vend answers; they come off after the revocation, before the close.
func TestAGuardedLeaseHasItsGuardrailsFromItsVendToItsRevocation(t *testing.T) {
	tpl := guardedTemplate(t)
	w := templateWorld(t, tpl)
	l, err := guardedVend(t, w)
	if err != nil {
		t.Fatal(err)
	}
	g := w.sim.Guardrails(l.AWSAccountID)
	if g == nil || g.Version != tpl.GuardrailVersion || g.Document != tpl.GuardrailDocument || strings.Join(g.PolicyIDs, ",") != "p-orgpolicy1" {
		t.Fatalf("the simulated account's guardrails when the vend answered: %+v", g)
	}
	if a := w.account(l.AccountID); !ovm.Guarded(a) || a.Progress[ovm.ProgressGuarded] != tpl.GuardrailVersion {
		t.Fatalf("account progress %v", a.Progress)
	}
	if _, err := w.eng.Credentials(context.Background(), l, "key:alice"); err != nil {
		t.Fatalf("credentials of a guarded lease: %v", err)
	}
	if _, err := w.eng.EndLease(context.Background(), l, ovm.LeaseReleased, "key:alice"); err != nil {
		t.Fatal(err)
	}
	// The runner: the revocation, then the guardrails off, then the close.
	var steps []string
	for range 20 {
		a := w.account(l.AccountID)
		if a.State == ovm.AccountClosed {
			break
		}
		_, revoking := ovm.PendingRevocation(a)
		switch {
		case revoking:
			steps = append(steps, "revoke")
		case ovm.Unguarding(a):
			steps = append(steps, "unguard")
			if w.sim.Guardrails(l.AWSAccountID) == nil {
				t.Fatal("the guardrails came off before their step")
			}
		default:
			steps = append(steps, string(a.State))
		}
		w.eng.RunOnce(context.Background(), engine.WorkerRunner)
		w.clock.Advance(time.Second)
	}
	got := strings.Join(steps, ",")
	if !strings.HasPrefix(got, "revoke,unguard,closing") || w.sim.Guardrails(l.AWSAccountID) != nil {
		t.Fatalf("steps %s; guardrails left %+v", got, w.sim.Guardrails(l.AWSAccountID))
	}
}

// kill -9 between AWS taking the guardrails and the store recording it:
// the lease gives no access meanwhile, and the drift check (which runs at
// start) finishes the guard once.
func TestAGuardTheVendDidNotRecordIsFinishedAndGivesNoAccessBefore(t *testing.T) {
	w := templateWorld(t, guardedTemplate(t))
	w.cfg.CrashPoint = func(point string) {
		if point == "vend.after-guard" {
			panic(point)
		}
	}
	w.build()
	var crashed any
	func() {
		defer func() { crashed = recover() }()
		guardedVend(t, w)
	}()
	if crashed != "vend.after-guard" {
		t.Fatalf("no crash at vend.after-guard: %v", crashed)
	}
	w.cfg.CrashPoint = nil
	w.build() // the restart
	leases, _, err := w.store.LeaseList(context.Background(), &ovm.LeaseListParams{Owner: "alice"})
	if err != nil || len(leases) != 1 {
		t.Fatalf("leases %v %v", leases, err)
	}
	l := leases[0]
	if a := w.account(l.AccountID); ovm.Guarded(a) || w.sim.Guardrails(l.AWSAccountID) == nil {
		t.Fatalf("before the check: guarded %v in the store, %+v in AWS", ovm.Guarded(a), w.sim.Guardrails(l.AWSAccountID))
	}
	_, err = w.eng.Credentials(context.Background(), l, "key:alice")
	if ovm.ErrorCodeOf(err) != ovm.EUnavailable || !strings.Contains(err.Error(), "guardrails are not in place yet") {
		t.Fatalf("credentials before the guard is recorded: %v", err)
	}
	if _, err := w.eng.RunOnce(context.Background(), engine.WorkerDrift); err != nil {
		t.Fatal(err)
	}
	if a := w.account(l.AccountID); !ovm.Guarded(a) {
		t.Fatal("the drift check did not finish the guard")
	}
	if _, err := w.eng.Credentials(context.Background(), l, "key:alice"); err != nil {
		t.Fatalf("credentials once guarded: %v", err)
	}
}

// Guardrails that cannot be put on end the lease: the account retires
// (never handed over without them, never back in stock with them).
func TestAVendWhoseGuardrailsFailEndsItsLease(t *testing.T) {
	w := templateWorld(t, guardedTemplate(t))
	w.sim.SetHook(func(op sim.Op, a *ovm.Account) error {
		if op == sim.OpGuard {
			return errors.New("AccessDenied: organizations:AttachPolicy")
		}
		return nil
	})
	_, err := guardedVend(t, w)
	if ovm.ErrorCodeOf(err) != ovm.EUnavailable || !strings.Contains(err.Error(), "put the guardrails of template eu-only") {
		t.Fatalf("vend: %v", err)
	}
	leases, _, _ := w.store.LeaseList(context.Background(), &ovm.LeaseListParams{Owner: "alice"})
	if len(leases) != 1 || leases[0].State != ovm.LeaseEnded || leases[0].EndReason != ovm.LeaseAccountFailed {
		t.Fatalf("the lease: %+v", leases)
	}
	if a := w.account(leases[0].AccountID); a.State != ovm.AccountClosing {
		t.Fatalf("its account is %s, want closing", a.State)
	}
}

// Guardrails taken off outside OVM are found by the drift check, reported
// as drift and put back.
func TestGuardrailsTakenOffOutsideOVMArePutBack(t *testing.T) {
	w := templateWorld(t, guardedTemplate(t))
	l, err := guardedVend(t, w)
	if err != nil {
		t.Fatal(err)
	}
	a := w.account(l.AccountID)
	g, _ := ovm.GuardOf(a)
	if _, err := w.sim.Unguard(context.Background(), a, g); err != nil { // an admin, by hand
		t.Fatal(err)
	}
	if n, err := w.eng.RunOnce(context.Background(), engine.WorkerDrift); err != nil || n != 1 {
		t.Fatalf("drift run: %d findings, %v", n, err)
	}
	if got := w.sim.Guardrails(l.AWSAccountID); got == nil || got.Document != l.Terms.GuardrailDocument {
		t.Fatalf("not put back: %+v", got)
	}
	evs, _, _ := w.store.EventList(context.Background(), &ovm.EventListParams{AccountID: a.ID, Kind: ovm.EventDrift})
	if len(evs) != 1 || !strings.Contains(evs[0].Reason, "no guardrails are attached; put back") {
		t.Fatalf("drift events %+v", evs)
	}
	if n, _ := w.eng.RunOnce(context.Background(), engine.WorkerDrift); n != 0 {
		t.Fatalf("a second run found %d", n)
	}
	// A frozen lease's account is left alone (on a management account the
	// freeze's boundary binds OVM's own calls too); the unfreeze's next
	// check puts them back.
	ctx := context.Background()
	if l, err = w.eng.FreezeLease(ctx, l, false, "test", "key:admin"); err != nil {
		t.Fatal(err)
	}
	a = w.account(l.AccountID)
	if _, err := w.sim.Unguard(ctx, a, g); err != nil {
		t.Fatal(err)
	}
	if n, err := w.eng.RunOnce(ctx, engine.WorkerDrift); err != nil || n != 0 || w.sim.Guardrails(l.AWSAccountID) != nil {
		t.Fatalf("the drift check touched a frozen account's guardrails: %d findings, %v", n, err)
	}
	if _, err := w.eng.UnfreezeLease(ctx, l, "key:admin"); err != nil {
		t.Fatal(err)
	}
	if n, err := w.eng.RunOnce(ctx, engine.WorkerDrift); err != nil || n != 1 || w.sim.Guardrails(l.AWSAccountID) == nil {
		t.Fatalf("after the unfreeze: %d findings, %v, guardrails %+v", n, err, w.sim.Guardrails(l.AWSAccountID))
	}
}

// The drift check deletes the guardrail policy of a version no lease uses
// any more, once unused for the grace: not while a lease of it runs, never
// the template's current version, even with no lease of it.
func TestTheDriftCheckDeletesGuardrailVersionsNoLeaseUses(t *testing.T) {
	ctx := context.Background()
	v1 := guardedTemplate(t)
	w := templateWorld(t, v1)
	old, err := guardedVend(t, w)
	if err != nil {
		t.Fatal(err)
	}
	// The operator changes the template's guardrails: a new version.
	v2 := v1
	v2.Guardrails.Regions = []string{"eu-central-1"}
	d, err := guardrail.Check(v2.Guardrails, guardrail.Options{ExemptRole: "OrganizationAccountAccessRole"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v2.GuardrailDocument, v2.GuardrailVersion = d.JSON(), d.Hash()
	w.cfg.Templates = []ovm.Template{v2}
	w.build()
	drift := func() {
		t.Helper()
		if _, err := w.eng.RunOnce(ctx, engine.WorkerDrift); err != nil {
			t.Fatal(err)
		}
	}
	versions := func() []string {
		var out []string
		for _, p := range w.sim.Policies("eu-only") {
			out = append(out, p.Version)
		}
		return out
	}
	cur, err := guardedVend(t, w)
	if err != nil {
		t.Fatal(err)
	}
	// Both leases run: both versions stay, however long.
	for range 3 {
		drift()
		w.clock.Advance(2 * time.Hour)
	}
	if got := versions(); len(got) != 2 {
		t.Fatalf("versions while both leases run: %v", got)
	}
	// Both leases end: the old version goes after the grace, the current stays.
	for _, l := range []*ovm.Lease{old, cur} {
		if _, err := w.eng.EndLease(ctx, l, ovm.LeaseReleased, "key:alice"); err != nil {
			t.Fatal(err)
		}
	}
	w.settle(20, time.Second)
	if g := w.sim.Guardrails(old.AWSAccountID); g != nil {
		t.Fatalf("the ended lease's account still has %+v", g)
	}
	drift()
	w.clock.Advance(30 * time.Minute)
	drift()
	if got := versions(); len(got) != 2 {
		t.Fatalf("versions within the grace: %v", got)
	}
	w.clock.Advance(31 * time.Minute)
	drift()
	if got := versions(); len(got) != 1 || got[0] != v2.GuardrailVersion {
		t.Fatalf("versions after the grace: %v, want only the current %s", got, v2.GuardrailVersion)
	}
	evs, _, err := w.store.EventList(ctx, &ovm.EventListParams{Pool: "default", Kind: ovm.EventGuardrail})
	if err != nil || len(evs) != 1 || evs[0].From != "ovm-guard-eu-only-"+v1.GuardrailVersion || evs[0].To != "deleted" {
		t.Fatalf("guardrail events %+v %v", evs, err)
	}
	// A vend of the current version still gets its guardrails.
	if l, err := guardedVend(t, w); err != nil || w.sim.Guardrails(l.AWSAccountID) == nil {
		t.Fatalf("a vend after the collection: %v", err)
	}
}
