package ovm_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func account(state ovm.AccountState, mods ...func(*ovm.Account)) *ovm.Account {
	a := ovm.NewPendingAccount("acc_1", "default", "ovm-acc_1", "ovm+acc_1@example.com", t0)
	a.State = state
	a.Version = 7
	for _, m := range mods {
		m(a)
	}
	return a
}

func TestTheDiagramEdgesAreLegal(t *testing.T) {
	legal := [][2]ovm.AccountState{
		{"pending", "creating"}, {"creating", "bootstrapping"}, {"bootstrapping", "ready"},
		{"ready", "leased"}, {"leased", "cleaning"}, {"cleaning", "ready"}, {"leased", "closing"},
		{"closing", "closed"}, {"creating", "abandoned"}, {"quarantined", "closing"},
		{"pending", "quarantined"}, {"creating", "quarantined"}, {"bootstrapping", "quarantined"},
		{"cleaning", "quarantined"}, {"closing", "quarantined"},
	}
	for _, e := range legal {
		if !ovm.CanTransition(e[0], e[1]) {
			t.Errorf("%s -> %s should be legal", e[0], e[1])
		}
	}
}

func TestNoEdgeLeavesATerminalStateOrSkipsStock(t *testing.T) {
	for _, to := range ovm.AccountStates {
		for _, from := range []ovm.AccountState{ovm.AccountClosed, ovm.AccountAbandoned} {
			if ovm.CanTransition(from, to) {
				t.Errorf("%s -> %s must be illegal: %s is terminal", from, to, from)
			}
		}
	}
	illegal := [][2]ovm.AccountState{
		{"pending", "ready"}, {"creating", "ready"}, {"bootstrapping", "leased"}, {"ready", "closed"},
		{"leased", "closed"}, {"closing", "ready"}, {"ready", "quarantined"},
		{"leased", "quarantined"}, {"bogus", "bogus"},
	}
	for _, e := range illegal {
		if ovm.CanTransition(e[0], e[1]) {
			t.Errorf("%s -> %s should be illegal", e[0], e[1])
		}
	}
}

// Leased goes back to ready only through ReturnAccount, for a lease that
// never gave access; a lease that did leaves its account to be cleaned or
// closed.
func TestALeasedAccountGoesBackToStockOnlyIfItsLeaseGaveNoAccess(t *testing.T) {
	leased := account(ovm.AccountLeased, func(a *ovm.Account) { a.LeaseID = "lse_1" })
	l := &ovm.Lease{ID: "lse_1", AccountID: leased.ID, State: ovm.LeaseActive, Version: 1, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	u, err := ovm.RefuseLease(l, leased, "IAM refused", t0)
	if err != nil || u.Account.Account.State != ovm.AccountReady || u.Lease.EndReason != ovm.LeaseRefused {
		t.Fatalf("refuse a lease that gave no access: %+v %v", u, err)
	}
	m, err := ovm.MarkLeaseAccess(l, "credentials", "key:a", t0)
	if err != nil || m.Lease.AccessAt.IsZero() || m.Lease.Version != 2 {
		t.Fatalf("mark: %+v %v", m, err)
	}
	if _, err := ovm.RefuseLease(m.Lease, leased, "IAM refused", t0); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("a lease that gave access was refused: %v", err)
	}
	if _, err := ovm.ReturnAccount(leased, m.Lease, t0); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("an account whose lease gave access went back to stock: %v", err)
	}
}

func TestAConstructorBuildsACompareAndSetWithItsEvent(t *testing.T) {
	a := account(ovm.AccountCreating, func(a *ovm.Account) { a.Attempts = 2; a.LastError = "boom" })
	u, err := ovm.FinishCreating(a, "123456789012", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if u.ExpectState != ovm.AccountCreating || u.ExpectVersion != 7 {
		t.Errorf("expect = %s/%d, want creating/7", u.ExpectState, u.ExpectVersion)
	}
	n := u.Account
	if n.State != ovm.AccountBootstrapping || n.Version != 8 || n.AWSAccountID != "123456789012" {
		t.Errorf("new record = %s v%d %q", n.State, n.Version, n.AWSAccountID)
	}
	if n.Attempts != 0 || n.LastError != "" {
		t.Errorf("retry state not reset on state change: %d %q", n.Attempts, n.LastError)
	}
	if a.State != ovm.AccountCreating || a.AWSAccountID != "" {
		t.Error("constructor modified its input")
	}
	if u.Event == nil || u.Event.From != "creating" || u.Event.To != "bootstrapping" || u.Event.Actor != ovm.ActorEngine || u.Event.Reason == "" {
		t.Errorf("event = %+v", u.Event)
	}
}

func TestConstructorsRefuseIllegalMoves(t *testing.T) {
	cases := []struct {
		name string
		do   func() (*ovm.AccountUpdate, error)
	}{
		{"a ready account cannot be created", func() (*ovm.AccountUpdate, error) {
			return ovm.FinishCreating(account(ovm.AccountReady), "123456789012", t0)
		}},
		{"a bad aws id is refused", func() (*ovm.AccountUpdate, error) {
			return ovm.FinishCreating(account(ovm.AccountCreating), "12345", t0)
		}},
		{"a leased account cannot be leased again", func() (*ovm.AccountUpdate, error) {
			return ovm.LeaseAccount(account(ovm.AccountLeased), &ovm.Lease{ID: "lse_2", Owner: "x"}, t0)
		}},
		{"a closed account cannot be retired", func() (*ovm.AccountUpdate, error) {
			return ovm.RetireAccount(account(ovm.AccountClosed), "key:a", t0)
		}},
		{"a leased account cannot be retired by an operator", func() (*ovm.AccountUpdate, error) {
			return ovm.RetireAccount(account(ovm.AccountLeased), "key:a", t0)
		}},
		{"only a quarantined account is retried", func() (*ovm.AccountUpdate, error) {
			return ovm.RetryAccount(account(ovm.AccountReady), "key:a", t0)
		}},
		{"a lease ends only on its own account", func() (*ovm.AccountUpdate, error) {
			return ovm.EndAccountLease(account(ovm.AccountLeased, func(a *ovm.Account) { a.LeaseID = "lse_1" }),
				&ovm.Lease{ID: "lse_2"}, ovm.RetirePolicy{Mode: ovm.RetireClose}, "expirer", t0)
		}},
		{"a creation is not finished twice", func() (*ovm.AccountUpdate, error) {
			return ovm.FinishCreating(account(ovm.AccountBootstrapping), "123456789012", t0)
		}},
		{"a closed account is not observed closed again", func() (*ovm.AccountUpdate, error) {
			return ovm.ObserveClosed(account(ovm.AccountClosed), t0)
		}},
		{"only a cleaning account finishes cleaning", func() (*ovm.AccountUpdate, error) {
			return ovm.FinishCleaning(account(ovm.AccountReady), t0)
		}},
		{"a bootstrapping account is not abandoned", func() (*ovm.AccountUpdate, error) {
			return ovm.AbandonAccount(account(ovm.AccountBootstrapping), "x", t0)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := c.do()
			if err == nil {
				t.Fatalf("got update %+v, want an error", u)
			}
			if code := ovm.ErrorCodeOf(err); code != ovm.EConflict && code != ovm.EInvalid {
				t.Errorf("code = %s", code)
			}
		})
	}
}

func TestAQuarantineCountsItsAttemptsInPlainEnglish(t *testing.T) {
	for max, want := range map[int]string{1: "1 attempt failed, last: boom", 3: "3 attempts failed, last: boom"} {
		a := account(ovm.AccountBootstrapping)
		a.Attempts = max - 1
		u, err := ovm.RecordStepFailure(a, ovm.RetryPolicy{MaxAttempts: max, BaseDelay: time.Second, MaxDelay: time.Minute}, "boom", t0)
		if err != nil {
			t.Fatal(err)
		}
		if u.Account.LastError != want {
			t.Errorf("max_attempts %d: %q, want %q", max, u.Account.LastError, want)
		}
	}
}

func TestFailuresBackOffThenQuarantineWithTheLastError(t *testing.T) {
	p := ovm.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: time.Minute}
	a := account(ovm.AccountBootstrapping)
	var last time.Time
	for i := 1; i <= 2; i++ {
		u, err := ovm.RecordStepFailure(a, p, "throttled", t0)
		if err != nil {
			t.Fatal(err)
		}
		a = u.Account
		if a.State != ovm.AccountBootstrapping || a.Attempts != i || a.LastError != "throttled" {
			t.Fatalf("after failure %d: %s attempts=%d %q", i, a.State, a.Attempts, a.LastError)
		}
		if !a.NextAttemptAt.After(last) || !a.NextAttemptAt.After(t0) {
			t.Errorf("next attempt %s does not back off", a.NextAttemptAt)
		}
		last = a.NextAttemptAt
	}
	u, err := ovm.RecordStepFailure(a, p, "still throttled", t0)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Account
	if q.State != ovm.AccountQuarantined || q.QuarantinedFrom != ovm.AccountBootstrapping {
		t.Fatalf("third failure: %s from %s, want quarantined from bootstrapping", q.State, q.QuarantinedFrom)
	}
	if !strings.Contains(q.LastError, "still throttled") || q.Attempts != 3 {
		t.Errorf("quarantined with %q after %d attempts", q.LastError, q.Attempts)
	}
	r, err := ovm.RetryAccount(q, "key:admin", t0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Account.State != ovm.AccountBootstrapping || r.Account.Attempts != 0 || r.Account.QuarantinedFrom != "" {
		t.Errorf("retry gave %s attempts=%d from=%q", r.Account.State, r.Account.Attempts, r.Account.QuarantinedFrom)
	}
}

func TestRetiringAnAccountThatNeverReachedAWSAbandonsIt(t *testing.T) {
	q := account(ovm.AccountQuarantined, func(a *ovm.Account) { a.QuarantinedFrom = ovm.AccountPending })
	u, err := ovm.RetireAccount(q, "key:admin", t0)
	if err != nil || u.Account.State != ovm.AccountAbandoned {
		t.Fatalf("got %v, %v; want abandoned", u, err)
	}
	q.ExternalRef = "car-1"
	u, err = ovm.RetireAccount(q, "key:admin", t0)
	if err != nil || u.Account.State != ovm.AccountClosing {
		t.Fatalf("with an external ref: got %v, %v; want closing", u, err)
	}
}

func TestLeaseEndFollowsTheRetirePolicy(t *testing.T) {
	l := &ovm.Lease{ID: "lse_1", EndReason: ovm.LeaseExpired}
	leased := func(gen int) *ovm.Account {
		return account(ovm.AccountLeased, func(a *ovm.Account) { a.LeaseID = "lse_1"; a.Generation = gen })
	}
	for _, c := range []struct {
		rp   ovm.RetirePolicy
		gen  int
		want ovm.AccountState
	}{
		{ovm.RetirePolicy{Mode: ovm.RetireClose}, 0, ovm.AccountClosing},
		{ovm.RetirePolicy{Mode: ovm.RetireRecycle}, 9, ovm.AccountCleaning},
		{ovm.RetirePolicy{Mode: ovm.RetireRecycle, MaxGenerations: 3}, 2, ovm.AccountCleaning},
		{ovm.RetirePolicy{Mode: ovm.RetireRecycle, MaxGenerations: 3}, 3, ovm.AccountClosing},
	} {
		u, err := ovm.EndAccountLease(leased(c.gen), l, c.rp, ovm.ActorExpirer, t0)
		if err != nil {
			t.Fatal(err)
		}
		if u.Account.State != c.want || u.Account.LeaseID != "" {
			t.Errorf("%+v gen %d: %s lease %q, want %s", c.rp, c.gen, u.Account.State, u.Account.LeaseID, c.want)
		}
	}
}

func TestBackoffIsPureAndBounded(t *testing.T) {
	p := ovm.RetryPolicy{MaxAttempts: 10, BaseDelay: 5 * time.Second, MaxDelay: time.Minute}
	for n := 1; n < 12; n++ {
		d := ovm.Backoff(p, n, "acc_x")
		if d != ovm.Backoff(p, n, "acc_x") {
			t.Fatal("backoff is not deterministic")
		}
		if d <= 0 || d > p.MaxDelay {
			t.Errorf("attempt %d: %s out of (0, %s]", n, d, p.MaxDelay)
		}
	}
	if ovm.Backoff(p, 1, "a") > p.BaseDelay || ovm.Backoff(p, 1, "a") < p.BaseDelay*8/10 {
		t.Errorf("first backoff %s not within 20%% below base", ovm.Backoff(p, 1, "a"))
	}
	if ovm.Backoff(p, 3, "a") < 2*ovm.Backoff(p, 1, "a") {
		t.Error("backoff does not grow")
	}
}

func TestErrorsKeepTheirCodeThroughWrapping(t *testing.T) {
	err := errors.Join(errors.New("ctx"), ovm.Errorf(ovm.ENotFound, "lease %s: %w", "lse_1", ovm.ErrNotFound))
	if ovm.ErrorCodeOf(err) != ovm.ENotFound || !errors.Is(err, ovm.ErrNotFound) {
		t.Errorf("code %s, is=%v", ovm.ErrorCodeOf(err), errors.Is(err, ovm.ErrNotFound))
	}
	if got := ovm.ErrorMessage(errors.New("db password=hunter2 refused")); got != "internal error" {
		t.Errorf("internal message leaked: %q", got)
	}
}

func FuzzTransitionTable(f *testing.F) {
	f.Add("pending", "creating")
	f.Add("closed", "ready")
	f.Fuzz(func(t *testing.T, from, to string) {
		a := account(ovm.AccountState(from))
		ok := ovm.CanTransition(a.State, ovm.AccountState(to))
		if ok && (a.State.Terminal() || !a.State.Valid() || !ovm.AccountState(to).Valid()) {
			t.Fatalf("%q -> %q allowed", from, to)
		}
		u, err := ovm.RetryAccount(a, "x", t0)
		if err == nil && (a.State != ovm.AccountQuarantined || !ovm.CanTransition(a.State, u.Account.State)) {
			t.Fatalf("retry from %q gave %q", from, u.Account.State)
		}
	})
}

// TestTheTransitionTableIsTheDocumented reads the edge table of
// docs/state-machine.md and compares it with CanTransition for every pair
// of distinct states: an edge added to or dropped from either fails here.
func TestTheTransitionTableIsTheDocumented(t *testing.T) {
	md, err := os.ReadFile("docs/state-machine.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z]+)` \\| ([^|]*) \\|$")
	accounts, _, _ := strings.Cut(string(md), "## Leases") // the account's table, not the lease's
	documented := map[ovm.AccountState]map[ovm.AccountState]bool{}
	for _, m := range row.FindAllStringSubmatch(accounts, -1) {
		from := ovm.AccountState(m[1])
		if documented[from] != nil {
			t.Fatalf("state %s has two rows", from)
		}
		documented[from] = map[ovm.AccountState]bool{}
		for _, to := range regexp.MustCompile("`([a-z]+)`").FindAllStringSubmatch(m[2], -1) {
			documented[from][ovm.AccountState(to[1])] = true
		}
	}
	if len(documented) != len(ovm.AccountStates) {
		t.Fatalf("the docs' table has %d states, the domain %d", len(documented), len(ovm.AccountStates))
	}
	for _, from := range ovm.AccountStates {
		for _, to := range ovm.AccountStates {
			if from == to {
				continue
			}
			if got, want := ovm.CanTransition(from, to), documented[from][to]; got != want {
				t.Errorf("%s -> %s: the table says %v, docs/state-machine.md %v", from, to, got, want)
			}
		}
	}
}

// TestTheLeaseTransitionTableIsTheDocumented reads the lease's edge table of
// docs/state-machine.md ("| lease from | to |") and compares it with
// CanTransitionLease for every pair of distinct states.
func TestTheLeaseTransitionTableIsTheDocumented(t *testing.T) {
	md, err := os.ReadFile("docs/state-machine.md")
	if err != nil {
		t.Fatal(err)
	}
	_, leases, ok := strings.Cut(string(md), "| lease from | to |")
	if !ok {
		t.Fatal("docs/state-machine.md has no lease transition table")
	}
	leases, _, _ = strings.Cut(leases, "\n\n")
	row := regexp.MustCompile("(?m)^\\| `([a-z]+)` \\| ([^|]*) \\|$")
	documented := map[ovm.LeaseState]map[ovm.LeaseState]bool{}
	for _, m := range row.FindAllStringSubmatch(leases, -1) {
		from := ovm.LeaseState(m[1])
		documented[from] = map[ovm.LeaseState]bool{}
		for _, to := range regexp.MustCompile("`([a-z]+)`").FindAllStringSubmatch(m[2], -1) {
			documented[from][ovm.LeaseState(to[1])] = true
		}
	}
	if len(documented) != len(ovm.LeaseStates) {
		t.Fatalf("the docs' lease table has %d states, the domain %d", len(documented), len(ovm.LeaseStates))
	}
	for _, from := range ovm.LeaseStates {
		for _, to := range ovm.LeaseStates {
			if from == to {
				continue
			}
			if got, want := ovm.CanTransitionLease(from, to), documented[from][to]; got != want {
				t.Errorf("%s -> %s: the table says %v, docs/state-machine.md %v", from, to, got, want)
			}
		}
	}
}
