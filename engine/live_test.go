package engine_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/storetest"
)

// liveSim is the simulated provider with a cleaning pass that runs until
// the test releases it, reporting live progress meanwhile
// (ovm.ProgressReporter), as provider/awsorgs does around aws-nuke.
type liveSim struct {
	*sim.Provider
	started, release chan struct{}

	mu   sync.Mutex
	live map[string]map[string]string
}

func (s *liveSim) Clean(ctx context.Context, a *ovm.Account, pol ovm.RetirePolicy) (ovm.StepResult, error) {
	s.mu.Lock()
	s.live = map[string]map[string]string{a.ID: {"step": "clean", "pass": "1", "phase": "scanning", "found": "7"}}
	s.mu.Unlock()
	close(s.started)
	<-s.release
	s.mu.Lock()
	s.live = nil
	s.mu.Unlock()
	return s.Provider.Clean(ctx, a, pol)
}

func (s *liveSim) LiveProgress(id string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[id]
}

// TestAPassUnderWayShowsInTheStatusAndIsNeverStored runs a cleaning step
// that reports live progress and looks while it runs: the pool status and
// LiveAccount of the replica running it show the progress under "live.",
// the stored record does not, another replica sees nothing live, and the
// runner records the step without a conflict.
func TestAPassUnderWayShowsInTheStatusAndIsNeverStored(t *testing.T) {
	w := newWorld(t, sim.Config{}, poolPolicy(func(p *ovm.Pool) {
		p.Stock.Target = 1
		p.Retire = ovm.RetirePolicy{Mode: ovm.RetireRecycle, MaxGenerations: 2}
	}))
	w.settle(5, time.Second)
	l := w.vend("a")
	ctx := context.Background()
	if _, err := storetest.EndLease(ctx, w.store, l.ID, ovm.LeaseReleased, w.pool.Retire, "key:test", w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.RunOnce(ctx, engine.WorkerRunner); err != nil { // the revocation comes first
		t.Fatal(err)
	}
	ls := &liveSim{Provider: w.sim, started: make(chan struct{}), release: make(chan struct{})}
	running, err := engine.New(w.store, []engine.Pool{{Policy: w.pool, Provider: ls}}, w.clock,
		slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{Instance: "running"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		ran    int
		runErr error
		done   = make(chan struct{})
	)
	go func() { defer close(done); ran, runErr = running.RunOnce(ctx, engine.WorkerRunner) }()
	<-ls.started

	st, err := running.PoolStatus(ctx, w.pool.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Waiting) != 1 || st.Waiting[0].ID != l.AccountID || st.Waiting[0].Progress["live.pass"] != "1" ||
		st.Waiting[0].Progress["live.found"] != "7" || st.Waiting[0].Progress["live.phase"] != "scanning" {
		t.Fatalf("pool status while cleaning: %+v", st.Waiting)
	}
	stored, err := w.store.AccountGet(ctx, l.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	for k := range stored.Progress {
		if strings.HasPrefix(k, "live.") {
			t.Fatalf("live progress was stored: %v", stored.Progress)
		}
	}
	if la := running.LiveAccount(stored); la == stored || la.Progress["live.step"] != "clean" || stored.Progress["live.step"] != "" {
		t.Fatalf("LiveAccount: %v (stored %v)", la.Progress, stored.Progress)
	}
	// Another replica (w.eng, the plain simulated provider) runs nothing.
	other, err := w.eng.PoolStatus(ctx, w.pool.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range other.Waiting {
		if a.Progress["live.step"] != "" {
			t.Fatalf("another replica shows live progress: %v", a.Progress)
		}
	}
	if w.eng.LiveAccount(stored) != stored {
		t.Fatal("another replica's LiveAccount changed the account")
	}

	w.clock.Advance(2 * ovm.DefaultClockMargin) // past the revocation's clock margin: stock when the pass ends
	close(ls.release)
	<-done
	if ran != 1 || runErr != nil {
		t.Fatalf("the runner recorded %d steps: %v", ran, runErr)
	}
	after, _ := w.store.AccountGet(ctx, l.AccountID)
	if after.State != ovm.AccountReady || running.LiveAccount(after) != after {
		t.Fatalf("after the pass: %s %v", after.State, after.Progress)
	}
}
