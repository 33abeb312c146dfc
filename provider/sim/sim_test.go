package sim_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/providertest"
	"github.com/ovmdev/ovm/provider/sim"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// failer is a sim hook driven by the conformance harness.
type failer struct {
	mu         sync.Mutex
	next       map[sim.Op]bool
	definitive map[sim.Op]string
}

func (f *failer) hook(op sim.Op, a *ovm.Account) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next[op] {
		delete(f.next, op)
		return errors.New("harness: transient failure")
	}
	if r := f.definitive[op]; r != "" {
		return &sim.Definitive{Reason: r}
	}
	return nil
}

func TestConformance(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		clk := clocktest.New(t0)
		p, err := sim.New(sim.DefaultConfig(), clk)
		if err != nil {
			t.Fatal(err)
		}
		f := &failer{next: map[sim.Op]bool{}, definitive: map[sim.Op]string{}}
		p.SetHook(f.hook)
		account := func(a *ovm.Account) (sim.Account, error) {
			for _, sa := range p.Accounts() {
				if sa.ID == a.AWSAccountID {
					return sa, nil
				}
			}
			return sim.Account{}, fmt.Errorf("no simulated account %s", a.AWSAccountID)
		}
		return &providertest.Harness{
			Provider: p,
			Advance:  clk.Advance,
			FailNext: func(op string) { f.mu.Lock(); f.next[sim.Op(op)] = true; f.mu.Unlock() },
			FailDefinitively: func(op, reason string) {
				f.mu.Lock()
				f.definitive[sim.Op(op)] = reason
				f.mu.Unlock()
			},
			Access: &providertest.AccessHarness{
				Now: clk.Now,
				// The simulated role trusts the pool's own principals and
				// those of Account.Trust.
				Trusted: func(_ context.Context, a *ovm.Account) ([]string, error) {
					sa, err := account(a)
					return sa.Trust, err
				},
				Denied: func(_ context.Context, a *ovm.Account, issued time.Time) (bool, error) {
					return !p.Session(a.AWSAccountID, issued), nil
				},
				// The simulated console is a host that resolves nowhere: a
				// browser would land where the URL's destination says.
				SignIn: func(_ context.Context, u string) (string, error) {
					pu, err := url.Parse(u)
					if err != nil || pu.Host != sim.SimulatedConsole {
						return "", fmt.Errorf("%q is not a URL of the simulated console (%v)", u, err)
					}
					return pu.Query().Get("destination"), nil
				},
			},
			Guard: &providertest.GuardHarness{
				Attached: func(_ context.Context, a *ovm.Account) (string, []string, error) {
					g := p.Guardrails(a.AWSAccountID)
					if g == nil {
						return "", nil, nil
					}
					return g.Document, g.PolicyIDs, nil
				},
				Made: func(_ context.Context, template string) (int, error) {
					return len(p.Policies(template)), nil
				},
				TakeOff: func(ctx context.Context, a *ovm.Account, g ovm.Guard) error {
					_, err := p.Unguard(ctx, a, g)
					return err
				},
				OrgPolicy: func(context.Context) (string, error) { return "p-simulatedorg1", nil },
			},
			Clean: &providertest.CleanHarness{
				Litter: func(_ context.Context, a *ovm.Account, _ *ovm.Credentials) (int, error) {
					return 7, p.Litter(a.AWSAccountID, 7)
				},
				Leftovers: func(_ context.Context, a *ovm.Account) (int, error) {
					sa, err := account(a)
					return sa.Resources, err
				},
			},
		}
	})
}

func TestTheZeroValueWorks(t *testing.T) {
	var p sim.Provider
	a := providertest.NewAccount(&p)
	r, err := p.Create(context.Background(), a)
	if err != nil || r.Status != ovm.StepDone || !ovm.IsAWSAccountID(r.AWSAccountID) {
		t.Fatalf("zero-value create: %+v %v", r, err)
	}
	a.AWSAccountID = r.AWSAccountID
	r, err = p.Bootstrap(context.Background(), a)
	if err != nil || r.RoleARN != "arn:aws:iam::"+a.AWSAccountID+":role/OVMCrossAccountRole" {
		t.Fatalf("zero-value bootstrap: %+v %v", r, err)
	}
}

func TestCreationsInFlightAreCapped(t *testing.T) {
	clk := clocktest.New(t0)
	p, _ := sim.New(sim.Config{CreateLatency: time.Minute, MaxInFlight: 2}, clk)
	for i := range 2 {
		if _, err := p.Create(context.Background(), providertest.NewAccount(p)); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	_, err := p.Create(context.Background(), providertest.NewAccount(p))
	if err == nil || !strings.Contains(err.Error(), "RATE_LIMIT") {
		t.Fatalf("third create: %v, want a transient rate-limit error", err)
	}
	clk.Advance(time.Minute)
	if _, err := p.Create(context.Background(), providertest.NewAccount(p)); err != nil {
		t.Fatalf("after the first finished: %v", err)
	}
	if n := len(p.Accounts()); n != 3 {
		t.Fatalf("%d simulated accounts, want 3", n)
	}
}

func TestTheCloseQuotaMakesClosuresWaitNotFail(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(t0)
	p, _ := sim.New(sim.Config{CloseQuota: 1, CloseWindow: 24 * time.Hour}, clk)
	var accts []*ovm.Account
	for range 2 {
		a := providertest.NewAccount(p)
		r, _ := p.Create(ctx, a)
		a.AWSAccountID = r.AWSAccountID
		accts = append(accts, a)
	}
	if r, err := p.Close(ctx, accts[0]); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("first close: %+v %v", r, err)
	}
	r, err := p.Close(ctx, accts[1])
	if err != nil || r.Status != ovm.StepPending || !strings.Contains(r.Reason, "quota") || r.Wait != 24*time.Hour {
		t.Fatalf("second close: %+v %v, want pending on quota for 24h", r, err)
	}
	if q, _ := p.CloseQuota(ctx); q.Left() != 0 || q.Used != 1 || !q.Limited() {
		t.Fatalf("quota %+v", q)
	}
	clk.Advance(24 * time.Hour)
	if r, err := p.Close(ctx, accts[1]); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("close after the window: %+v %v", r, err)
	}
}

func TestInjectedFailuresAreTransientAndHalfAreLostResponses(t *testing.T) {
	p, _ := sim.New(sim.Config{FailureRate: 1, Seed: 7}, nil)
	before := 0
	for range 40 {
		_, err := p.Create(context.Background(), providertest.NewAccount(p))
		if !errors.Is(err, sim.ErrInjected) {
			t.Fatalf("err = %v, want ErrInjected", err)
		}
		if strings.Contains(err.Error(), "before") {
			before++
		}
	}
	if before == 0 || before == 40 {
		t.Fatalf("%d of 40 failures before the effect; want both kinds", before)
	}
	if got := len(p.Accounts()); got != 40-before {
		t.Fatalf("%d accounts exist, want %d (one per lost response)", got, 40-before)
	}
}

func TestTheSimulatedAWSOutlivesTheProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sim.json")
	p, _ := sim.New(sim.Config{StatePath: path}, nil)
	a := providertest.NewAccount(p)
	r, err := p.Create(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	q, err := sim.New(sim.Config{StatePath: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := q.Create(context.Background(), a)
	if err != nil || r2.AWSAccountID != r.AWSAccountID || len(q.Accounts()) != 1 {
		t.Fatalf("after reload: %+v %v (%d accounts)", r2, err, len(q.Accounts()))
	}
}

func TestTwoProvidersOnOneStateFileShareTheSimulatedAWS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sim.json")
	a, _ := sim.New(sim.Config{StatePath: path, CreateLatency: time.Hour}, nil)
	b, _ := sim.New(sim.Config{StatePath: path, CreateLatency: time.Hour}, nil)
	acct := providertest.NewAccount(a)
	r, err := a.Create(context.Background(), acct)
	if err != nil || r.Status != ovm.StepPending {
		t.Fatal(r, err)
	}
	acct.ExternalRef = r.ExternalRef
	// b polls a's request (as another replica would after a's death).
	if r2, err := b.Create(context.Background(), acct); err != nil || r2.ExternalRef != r.ExternalRef {
		t.Fatalf("b: %+v %v", r2, err)
	}
	var wg sync.WaitGroup
	for _, p := range []*sim.Provider{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Create(context.Background(), providertest.NewAccount(p))
		}()
	}
	wg.Wait()
	if n := len(a.Accounts()); n != 5 || len(b.Accounts()) != 5 {
		t.Fatalf("a sees %d, b %d accounts, want 5", n, len(b.Accounts()))
	}
}

func TestBootstrapFailuresFailForGoodWithEvidenceThenWork(t *testing.T) {
	dir := t.TempDir()
	p, err := sim.New(sim.Config{BootstrapFailures: 1, EvidenceDir: dir}, clocktest.New(t0))
	if err != nil {
		t.Fatal(err)
	}
	a := providertest.NewAccount(p)
	r, _ := p.Create(context.Background(), a)
	a.AWSAccountID = r.AWSAccountID
	r, err = p.Bootstrap(context.Background(), a)
	if err != nil || r.Status != ovm.StepFailed || !strings.Contains(r.Reason, "the page changed") {
		t.Fatalf("first bootstrap: %+v %v", r, err)
	}
	recs, err := p.Evidence(context.Background(), a.ID)
	if err != nil || len(recs) != 1 || !strings.Contains(r.Reason, recs[0].Name) || len(recs[0].Files) != 3 {
		t.Fatalf("evidence: %+v %v (reason %q)", recs, err, r.Reason)
	}
	if shot, err := p.EvidenceFile(context.Background(), a.ID, recs[0].Name, "screenshot.jpg"); err != nil || len(shot) < 100 || shot[0] != 0xFF {
		t.Fatalf("screenshot: %d bytes %v", len(shot), err)
	}
	if r, err = p.Bootstrap(context.Background(), a); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("the retry: %+v %v", r, err)
	}
}
