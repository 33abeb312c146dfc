package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
	"github.com/ovmdev/ovm/store/storetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// world is an engine on a real SQLite store and a simulated AWS, with a
// manual clock.
type world struct {
	t      *testing.T
	dbPath string
	store  *sqlitestore.Store
	sim    *sim.Provider
	clock  *clocktest.Clock
	eng    *engine.Engine
	pool   ovm.Pool
	cfg    engine.Config
}

func poolPolicy(mods ...func(*ovm.Pool)) ovm.Pool {
	p := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 3, Ceiling: 6, MaxInFlight: 5},
		Retry: ovm.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Second, MaxDelay: 10 * time.Second}}
	for _, m := range mods {
		m(&p)
	}
	return p.WithDefaults()
}

func newWorld(t *testing.T, simCfg sim.Config, pol ovm.Pool) *world {
	w := &world{t: t, dbPath: filepath.Join(t.TempDir(), "ovm.db"), clock: clocktest.New(t0), pool: pol}
	var err error
	if w.sim, err = sim.New(simCfg, w.clock); err != nil {
		t.Fatal(err)
	}
	w.open()
	t.Cleanup(func() { w.store.Close() })
	return w
}

// open (re)opens the store and builds a new engine, as a restart does.
func (w *world) open() {
	var err error
	if w.store, err = sqlitestore.Open(context.Background(), w.dbPath); err != nil {
		w.t.Fatal(err)
	}
	w.build()
}

// build makes a new engine on the open store with w.cfg.
func (w *world) build() {
	var err error
	w.cfg.Instance = "test"
	w.eng, err = engine.New(w.store, []engine.Pool{{Policy: w.pool, Provider: w.sim}}, w.clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
}

// settle ticks (advancing the clock by step each time) until nothing is due
// and the stock is at target, or n ticks passed.
func (w *world) settle(n int, step time.Duration) {
	w.t.Helper()
	for range n {
		if err := w.eng.Tick(context.Background()); err != nil {
			w.t.Fatalf("tick: %v", err)
		}
		w.clock.Advance(step)
	}
}

func (w *world) counts() map[ovm.AccountState]int {
	c, err := w.store.PoolCounts(context.Background(), w.pool.Name)
	if err != nil {
		w.t.Fatal(err)
	}
	return c.ByState
}

func (w *world) accounts() []*ovm.Account {
	all, _, err := w.store.AccountList(context.Background(), &ovm.AccountListParams{PageParams: ovm.PageParams{Limit: 1000}})
	if err != nil {
		w.t.Fatal(err)
	}
	return all
}

// checkOneAWSAccountEach asserts the simulated AWS holds exactly one account
// per stored account that got that far, and none that OVM does not know.
func (w *world) checkOneAWSAccountEach() {
	w.t.Helper()
	byEmail := map[string]*ovm.Account{}
	for _, a := range w.accounts() {
		byEmail[a.Email] = a
	}
	seen := map[string]bool{}
	for _, sa := range w.sim.Accounts() {
		a := byEmail[sa.Email]
		if a == nil {
			w.t.Errorf("aws account %s (%s) is unknown to the store: orphan", sa.ID, sa.Email)
			continue
		}
		if seen[sa.Email] {
			w.t.Errorf("two aws accounts for %s: duplicate create", sa.Email)
		}
		seen[sa.Email] = true
		if a.AWSAccountID != "" && a.AWSAccountID != sa.ID {
			w.t.Errorf("store says %s is aws %s, aws says %s", a.ID, a.AWSAccountID, sa.ID)
		}
	}
}

func (w *world) vend(owner string) *ovm.Lease {
	w.t.Helper()
	now := w.clock.Now()
	l, err := w.store.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now),
		Pool: w.pool.Name, Owner: owner, Now: now, ExpiresAt: now.Add(time.Minute)})
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

func TestTheStockFillsToTargetAndNeverOvershoots(t *testing.T) {
	w := newWorld(t, sim.DefaultConfig(), poolPolicy())
	for range 40 {
		if err := w.eng.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := w.counts()
		if live := c[ovm.AccountReady] + c[ovm.AccountPending] + c[ovm.AccountCreating] + c[ovm.AccountBootstrapping]; live > 3 {
			t.Fatalf("%d accounts in stock or in flight, target is 3: %v", live, c)
		}
		w.clock.Advance(500 * time.Millisecond)
	}
	if c := w.counts(); c[ovm.AccountReady] != 3 {
		t.Fatalf("after 20 s: %v, want 3 ready", c)
	}
	w.checkOneAWSAccountEach()
	for _, a := range w.accounts() {
		if a.RoleARN != ovm.RoleARN(a.AWSAccountID, "OVMCrossAccountRole") {
			t.Errorf("account %s role %q", a.ID, a.RoleARN)
		}
	}
}

func TestEachPoolHasItsOwnProviderAndPolicy(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy())
	slow, _ := sim.New(sim.Config{CreateLatency: time.Hour}, w.clock)
	fast, _ := sim.New(sim.Config{}, w.clock)
	pools := []engine.Pool{
		{Policy: poolPolicy(func(p *ovm.Pool) { p.Name = "members"; p.Stock.Target = 4 }), Provider: fast},
		{Policy: poolPolicy(func(p *ovm.Pool) {
			p.Name, p.RoleName = "managers", "VendedAdmin"
			p.Stock = ovm.StockPolicy{Target: 2, MaxInFlight: 1}
		}), Provider: slow},
	}
	eng, err := engine.New(w.store, pools, w.clock, slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{Instance: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		eng.Tick(context.Background())
		w.clock.Advance(time.Second)
	}
	ctx := context.Background()
	m, _ := w.store.PoolCounts(ctx, "members")
	g, _ := w.store.PoolCounts(ctx, "managers")
	if m.ByState[ovm.AccountReady] != 4 || g.InFlight() != 1 || g.ByState[ovm.AccountReady] != 0 {
		t.Fatalf("members %v, managers %v", m.ByState, g.ByState)
	}
	if len(fast.Accounts()) != 4 || len(slow.Accounts()) != 1 {
		t.Fatalf("fast made %d, slow %d", len(fast.Accounts()), len(slow.Accounts()))
	}
}

func TestOnlyTheLeaderPlansAndAnotherTakesOverWhenItStops(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pools := []engine.Pool{{Policy: w.pool, Provider: w.sim}}
	a, _ := engine.New(w.store, pools, w.clock, log, engine.Config{Instance: "a", LeaderTTL: 10 * time.Second})
	b, _ := engine.New(w.store, pools, w.clock, log, engine.Config{Instance: "b", LeaderTTL: 10 * time.Second})
	ctx := context.Background()
	if n, _ := a.RunOnce(ctx, engine.WorkerPlanner); n != 2 {
		t.Fatalf("leader a ordered %d", n)
	}
	for range 3 { // b runs the steps, but never plans while a leads
		b.RunOnce(ctx, engine.WorkerRunner)
		w.clock.Advance(time.Second)
		a.RunOnce(ctx, engine.WorkerPlanner) // a renews
		if n, _ := b.RunOnce(ctx, engine.WorkerPlanner); n != 0 {
			t.Fatalf("b planned while a led")
		}
	}
	w.vend("x")
	w.clock.Advance(11 * time.Second) // a is gone: its lease lapses
	if n, _ := b.RunOnce(ctx, engine.WorkerPlanner); n != 1 {
		t.Fatalf("b did not take over the planning (ordered %d)", n)
	}
}

func TestVendingRefillsWithinTheCeiling(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Ceiling = 5 }))
	w.settle(10, time.Second)
	for i := range 3 {
		w.vend(fmt.Sprint("u", i))
	}
	w.settle(10, time.Second)
	c := w.counts()
	// 3 leased + 2 new: the ceiling of 5 live accounts stops the third.
	if c[ovm.AccountLeased] != 3 || c[ovm.AccountReady] != 2 {
		t.Fatalf("counts %v, want 3 leased and 2 ready under a ceiling of 5", c)
	}
}

func TestAnExpiredLeaseClosesTheAccountAndTheLogShowsEveryStep(t *testing.T) {
	w := newWorld(t, sim.DefaultConfig(), poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 1 }))
	w.settle(20, time.Second)
	l := w.vend("alice")
	w.settle(3, 10*time.Second) // lease ttl is 1 minute
	ctx := context.Background()
	if got, _ := w.store.LeaseGet(ctx, l.ID); got.State != ovm.LeaseActive {
		t.Fatalf("lease ended early: %+v", got)
	}
	w.settle(20, 10*time.Second)
	got, _ := w.store.LeaseGet(ctx, l.ID)
	if got.State != ovm.LeaseEnded || got.EndReason != ovm.LeaseExpired {
		t.Fatalf("lease %s %s, want ended expired", got.State, got.EndReason)
	}
	a, _ := w.store.AccountGet(ctx, l.AccountID)
	if a.State != ovm.AccountClosed {
		t.Fatalf("account %s, want closed", a.State)
	}
	for _, sa := range w.sim.Accounts() {
		if sa.ID == a.AWSAccountID && sa.State != sim.StateSuspended {
			t.Fatalf("aws reports %s", sa.State)
		}
	}
	ev, _, _ := w.store.EventList(ctx, &ovm.EventListParams{AccountID: a.ID})
	var path []string
	for _, e := range ev {
		if e.Kind == ovm.EventAccount && e.From != e.To {
			path = append(path, e.To)
		}
	}
	want := "pending creating bootstrapping ready leased closing closed"
	if strings.Join(path, " ") != want {
		t.Fatalf("transitions %v, want %s", path, want)
	}
}

func TestRecyclingWipesAndReturnsTheAccountToStock(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) {
		p.Stock.Target = 1
		p.Retire = ovm.RetirePolicy{Mode: ovm.RetireRecycle, MaxGenerations: 2}
	}))
	w.settle(5, time.Second)
	first := w.vend("a")
	ctx := context.Background()
	for gen := 1; gen <= 2; gen++ {
		if _, err := storetest.EndLease(ctx, w.store, first.ID, ovm.LeaseReleased, w.pool.Retire, "key:test", w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		ended := w.clock.Now()
		w.settle(5, time.Second)
		if a, _ := w.store.AccountGet(ctx, first.AccountID); a.State != ovm.AccountCleaning {
			t.Fatalf("within the revocation's clock margin: %s, want still cleaning", a.State)
		}
		w.settle(5, 30*time.Second) // past the deny's time and the margin
		a, _ := w.store.AccountGet(ctx, first.AccountID)
		if a.State != ovm.AccountReady || a.Generation != gen || a.StateChangedAt.Before(ended.Add(2*ovm.DefaultClockMargin)) {
			t.Fatalf("after wipe %d: %s gen %d", gen, a.State, a.Generation)
		}
		first = w.vend("a")
		if first.AccountID != a.ID {
			t.Fatalf("vended %s, want the recycled %s", first.AccountID, a.ID)
		}
	}
	storetest.EndLease(ctx, w.store, first.ID, ovm.LeaseReleased, w.pool.Retire, "key:test", w.clock.Now())
	w.settle(5, time.Second)
	if a, _ := w.store.AccountGet(ctx, first.AccountID); a.State != ovm.AccountClosed {
		t.Fatalf("after max generations: %s, want closed", a.State)
	}
}

func TestAtAThirtyPercentFailureRateEveryAccountEndsCorrectly(t *testing.T) {
	w := newWorld(t, sim.Config{FailureRate: 0.3, Seed: 42, CreateLatency: time.Second},
		poolPolicy(func(p *ovm.Pool) {
			p.Stock = ovm.StockPolicy{Target: 20, Ceiling: 60, MaxInFlight: 20}
			p.Retry.MaxAttempts = 3
		}))
	w.settle(200, 5*time.Second)
	c := w.counts()
	if c[ovm.AccountReady] != 20 {
		t.Fatalf("counts %v, want the target of 20 ready", c)
	}
	for _, a := range w.accounts() {
		switch a.State {
		case ovm.AccountReady:
		case ovm.AccountQuarantined:
			if a.LastError == "" || !strings.Contains(a.LastError, "injected") {
				t.Errorf("quarantined %s without its last error: %q", a.ID, a.LastError)
			}
		default:
			t.Errorf("account %s stuck in %s", a.ID, a.State)
		}
	}
	if c[ovm.AccountQuarantined] == 0 {
		t.Fatal("no account was quarantined at 30 % failures with 3 attempts; the test proves nothing")
	}
	w.checkOneAWSAccountEach()

	// The operator retries them with the failures gone: all reach ready.
	w.sim.SetFailureRate(0)
	ctx := context.Background()
	for _, a := range w.accounts() {
		if a.State == ovm.AccountQuarantined {
			u, err := ovm.RetryAccount(a, "key:admin", w.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.store.AccountUpdate(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.settle(20, 5*time.Second)
	for _, a := range w.accounts() {
		if a.State != ovm.AccountReady {
			t.Errorf("after retry: %s is %s (%s)", a.ID, a.State, a.LastError)
		}
	}
	w.checkOneAWSAccountEach()
}

func TestADefinitiveCreateFailureAbandonsAndTheStockStillFills(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	failed := 0
	w.sim.SetHook(func(op sim.Op, a *ovm.Account) error {
		if op == sim.OpCreate && failed < 1 {
			failed++
			return &sim.Definitive{Reason: "INVALID_EMAIL"}
		}
		return nil
	})
	w.settle(10, time.Second)
	c := w.counts()
	if c[ovm.AccountReady] != 2 {
		t.Fatalf("counts %v", c)
	}
	abandoned, _, _ := w.store.AccountList(context.Background(), &ovm.AccountListParams{State: ovm.AccountAbandoned})
	if len(abandoned) != 1 || !strings.Contains(abandoned[0].LastError, "INVALID_EMAIL") {
		t.Fatalf("abandoned: %v", abandoned)
	}
}

func TestCreationsThatKeepFailingForGoodStopThePlanner(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	w.sim.SetHook(func(op sim.Op, a *ovm.Account) error {
		if op == sim.OpCreate {
			return &sim.Definitive{Reason: "INVALID_EMAIL"}
		}
		return nil
	})
	w.settle(30, time.Second)
	abandoned, _, _ := w.store.AccountList(context.Background(), &ovm.AccountListParams{State: ovm.AccountAbandoned})
	if len(abandoned) < engine.BreakerAbandons || len(abandoned) > engine.BreakerAbandons+1 {
		t.Fatalf("%d accounts abandoned in 30 ticks; the breaker should stop at %d", len(abandoned), engine.BreakerAbandons)
	}
	st, _ := w.eng.PoolStatus(context.Background(), "default")
	if !strings.Contains(st.Plan.Why, "failed for good") {
		t.Fatalf("pool status: %q", st.Plan.Why)
	}
	// After the window, with the provider fixed, the stock fills.
	w.sim.SetHook(nil)
	w.clock.Advance(engine.BreakerWindow)
	w.settle(10, time.Second)
	if c := w.counts(); c[ovm.AccountReady] != 2 {
		t.Fatalf("counts %v", c)
	}
}

func TestTheCloseQuotaHoldsClosuresAndCreationsWithoutFailing(t *testing.T) {
	w := newWorld(t, sim.Config{CloseQuota: 2, CloseWindow: time.Hour},
		poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2 }))
	w.settle(5, time.Second)
	ctx := context.Background()
	// Someone else closes an account of the organization: one closure left.
	other := ovm.NewPendingAccount("acc_other", "x", "other", "other@x", t0)
	r, _ := w.sim.Create(ctx, other)
	other.AWSAccountID = r.AWSAccountID
	if r, err := w.sim.Close(ctx, other); err != nil || r.Status != ovm.StepDone {
		t.Fatal(r, err)
	}
	for range 2 {
		l := w.vend("q")
		storetest.EndLease(ctx, w.store, l.ID, ovm.LeaseReleased, w.pool.Retire, "key:test", w.clock.Now())
	}
	w.settle(10, time.Second)
	c := w.counts()
	if c[ovm.AccountClosing] != 1 || c[ovm.AccountQuarantined] != 0 {
		t.Fatalf("counts %v, want one account waiting to close", c)
	}
	closing, _, _ := w.store.AccountList(ctx, &ovm.AccountListParams{State: ovm.AccountClosing})
	if !strings.Contains(closing[0].Waiting, "quota") {
		t.Fatalf("waiting %q", closing[0].Waiting)
	}
	// With no closure left, the planner orders nothing: it could not close
	// what it makes.
	if c[ovm.AccountReady]+c[ovm.AccountPending]+c[ovm.AccountCreating]+c[ovm.AccountBootstrapping] != 0 {
		t.Fatalf("planner ordered accounts with the quota exhausted: %v", c)
	}
	w.settle(150, time.Minute)
	if c := w.counts(); c[ovm.AccountClosing] != 0 || c[ovm.AccountQuarantined] != 0 || c[ovm.AccountReady] != 2 {
		t.Fatalf("after the window: %v, want the closure done and the stock refilled", c)
	}
}

// TestACrashBetweenTheCallAndItsRecordLosesNothing stops the step goroutine
// right after the provider call took effect and before the store write, at
// every state, then restarts engine and store (the simulated AWS lives on).
func TestACrashBetweenTheCallAndItsRecordLosesNothing(t *testing.T) {
	for _, state := range []ovm.AccountState{ovm.AccountPending, ovm.AccountCreating, ovm.AccountBootstrapping, ovm.AccountClosing} {
		t.Run(string(state), func(t *testing.T) {
			w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 1 }))
			crashed := 0
			w.cfg.CrashPoint = func(point string) {
				if point == "runner.after-call:"+string(state) && crashed == 0 {
					crashed++
					runtime.Goexit() // the step dies here, as under kill -9
				}
			}
			w.build()
			for range 10 {
				w.eng.Tick(context.Background())
				w.clock.Advance(time.Second)
				if state == ovm.AccountClosing && w.counts()[ovm.AccountReady] == 1 {
					l := w.vend("x")
					storetest.EndLease(context.Background(), w.store, l.ID, ovm.LeaseReleased, w.pool.Retire, "key:test", w.clock.Now())
				}
				if crashed > 0 {
					break
				}
			}
			if crashed == 0 {
				t.Fatal("the crash point was never reached")
			}
			w.store.Close()
			w.cfg.CrashPoint = nil
			w.open() // restart: claims are released, work continues
			w.settle(20, time.Second)
			w.checkOneAWSAccountEach()
			for _, a := range w.accounts() {
				if a.State != ovm.AccountReady && a.State != ovm.AccountClosed {
					t.Errorf("account %s is %s after the restart", a.ID, a.State)
				}
			}
		})
	}
}

func TestStartAndStopRunTheLoops(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy())
	clock := ovm.SystemClock()
	eng, err := engine.New(w.store, []engine.Pool{{Policy: w.pool, Provider: w.sim}}, clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{Tick: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ready := eng.ReadySignal("default")
	eng.Start()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("no account became ready")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestARecyclePoolNeedsACleaningProvider(t *testing.T) {
	pol := poolPolicy(func(p *ovm.Pool) { p.Retire.Mode = ovm.RetireRecycle })
	_, err := engine.New(nil, []engine.Pool{{Policy: pol, Provider: noClean{}}}, nil, nil, engine.Config{})
	if err == nil || !strings.Contains(err.Error(), "cannot clean") {
		t.Fatalf("err = %v", err)
	}
	_, err = engine.New(nil, []engine.Pool{{Policy: poolPolicy(), Provider: noClean{}}, {Policy: poolPolicy(), Provider: noClean{}}}, nil, nil, engine.Config{})
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate pool: %v", err)
	}
}

// noClean is a provider without the Cleaner capability; it is only
// inspected, never called.
type noClean struct{}

func (noClean) Reserve(id string) (string, string) { return id, id + "@x" }
func (noClean) Create(context.Context, *ovm.Account) (ovm.StepResult, error) {
	return ovm.StepResult{}, errors.New("unused")
}
func (noClean) Bootstrap(context.Context, *ovm.Account) (ovm.StepResult, error) {
	return ovm.StepResult{}, errors.New("unused")
}
func (noClean) Close(context.Context, *ovm.Account) (ovm.StepResult, error) {
	return ovm.StepResult{}, errors.New("unused")
}
