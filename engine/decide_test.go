package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
)

func acct(state ovm.AccountState) *ovm.Account {
	a := ovm.NewPendingAccount("acc_1", "default", "n", "e@x", t0)
	a.State = state
	a.Version = 3
	a.AWSAccountID = "123456789012"
	return a
}

func TestDecide(t *testing.T) {
	pol := poolPolicy()
	cases := []struct {
		name      string
		state     ovm.AccountState
		res       ovm.StepResult
		err       error
		want      ovm.AccountState
		attempts  int
		nextAfter time.Duration
	}{
		{"a pending create with a reference starts creating", ovm.AccountPending,
			ovm.StepResult{Status: ovm.StepPending, ExternalRef: "car-1", Wait: 3 * time.Second}, nil, ovm.AccountCreating, 0, 3 * time.Second},
		{"a pending create without a reference stays pending", ovm.AccountPending,
			ovm.Pending(time.Second, "queued"), nil, ovm.AccountPending, 0, time.Second},
		{"a pending create with a new reference keeps polling it", ovm.AccountCreating,
			ovm.StepResult{Status: ovm.StepPending, ExternalRef: "car-2", Wait: time.Second}, nil, ovm.AccountCreating, 0, time.Second},
		{"a done create finishes creating", ovm.AccountCreating,
			ovm.StepResult{Status: ovm.StepDone, AWSAccountID: "123456789012"}, nil, ovm.AccountBootstrapping, 0, 0},
		{"a done bootstrap makes the account ready", ovm.AccountBootstrapping,
			ovm.StepResult{Status: ovm.StepDone, RoleARN: "arn:aws:iam::123456789012:role/R"}, nil, ovm.AccountReady, 0, 0},
		{"a done close is observed closed", ovm.AccountClosing, ovm.StepResult{Status: ovm.StepDone}, nil, ovm.AccountClosed, 0, 0},
		{"a done clean returns to stock", ovm.AccountCleaning, ovm.StepResult{Status: ovm.StepDone}, nil, ovm.AccountReady, 0, 0},
		{"a transient error backs off in place", ovm.AccountBootstrapping, ovm.StepResult{}, errors.New("throttled"),
			ovm.AccountBootstrapping, 1, 800 * time.Millisecond},
		{"a definitive create failure abandons", ovm.AccountCreating, ovm.Failed("INVALID_EMAIL"), nil, ovm.AccountAbandoned, 0, 0},
		{"a create failure that may leave an account quarantines", ovm.AccountCreating,
			ovm.StepResult{Status: ovm.StepFailed, Reason: "INTERNAL_FAILURE", AccountMayExist: true}, nil, ovm.AccountQuarantined, 0, 0},
		{"a definitive bootstrap failure quarantines", ovm.AccountBootstrapping, ovm.Failed("denied"), nil, ovm.AccountQuarantined, 0, 0},
		{"a huge wait is clamped to the max poll", ovm.AccountClosing, ovm.Pending(30*24*time.Hour, "quota"), nil,
			ovm.AccountClosing, 0, 5 * time.Minute},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := acct(c.state)
			u, err := engine.Decide(a, pol, c.res, c.err, t0, 200*time.Millisecond, 5*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			n := u.Account
			if n.State != c.want || n.Attempts != c.attempts || u.ExpectVersion != 3 || n.Version != 4 {
				t.Fatalf("got %s attempts=%d v%d->v%d, want %s attempts=%d", n.State, n.Attempts, u.ExpectVersion, n.Version, c.want, c.attempts)
			}
			if c.nextAfter > 0 && (n.NextAttemptAt.Before(t0.Add(c.nextAfter)) || n.NextAttemptAt.After(t0.Add(2*c.nextAfter))) {
				t.Errorf("next attempt at +%s, want about +%s", n.NextAttemptAt.Sub(t0), c.nextAfter)
			}
		})
	}
	creating := acct(ovm.AccountCreating)
	creating.ExternalRef = "car-1"
	u, _ := engine.Decide(creating, pol, ovm.StepResult{Status: ovm.StepPending, ExternalRef: "car-2"}, nil, t0, 0, time.Hour)
	if u.Account.ExternalRef != "car-2" {
		t.Errorf("the replacing request was not stored: %q", u.Account.ExternalRef)
	}
	if _, err := engine.Decide(acct(ovm.AccountCreating), pol, ovm.StepResult{Status: ovm.StepDone, AWSAccountID: "nope"}, nil, t0, 0, time.Hour); err == nil {
		t.Error("a malformed account id was accepted")
	}
}

func TestPlanStock(t *testing.T) {
	counts := func(kv ...any) *ovm.PoolCounts {
		c := &ovm.PoolCounts{ByState: map[ovm.AccountState]int{}}
		for i := 0; i < len(kv); i += 2 {
			c.ByState[kv[i].(ovm.AccountState)] = kv[i+1].(int)
		}
		return c
	}
	pol := poolPolicy(func(p *ovm.Pool) { p.Stock = ovm.StockPolicy{Target: 5, Ceiling: 8, MaxInFlight: 2} })
	cases := []struct {
		name  string
		pol   ovm.Pool
		c     *ovm.PoolCounts
		quota *ovm.Quota
		want  int
	}{
		{"an empty pool orders up to max in flight", pol, counts(), nil, 2},
		{"in-flight accounts count as stock", pol, counts(ovm.AccountReady, 3, ovm.AccountCreating, 1), nil, 1},
		{"a full stock orders nothing", pol, counts(ovm.AccountReady, 5), nil, 0},
		{"the ceiling counts leased and closing accounts", pol, counts(ovm.AccountLeased, 6, ovm.AccountClosing, 1), nil, 1},
		{"the ceiling reached orders nothing", pol, counts(ovm.AccountLeased, 8), nil, 0},
		{"spacing allows one at a time", poolPolicy(func(p *ovm.Pool) { p.Stock.MinSpacing = time.Hour }), counts(), nil, 1},
		{"an exhausted close quota orders nothing", pol, counts(ovm.AccountClosing, 1), &ovm.Quota{Limit: 3, Used: 2}, 0},
		{"free close quota allows creations", pol, counts(), &ovm.Quota{Limit: 10, Used: 2}, 2},
		{"bootstraps hold no creation slot", pol, counts(ovm.AccountCreating, 1, ovm.AccountBootstrapping, 2), nil, 1},
		{"pending accounts hold a creation slot", pol, counts(ovm.AccountPending, 1, ovm.AccountCreating, 1), nil, 0},
		{"a paced pool's bootstrap holds its one slot",
			poolPolicy(func(p *ovm.Pool) { p.Stock.MinSpacing = time.Hour; p.Stock.MaxInFlight = 1 }), counts(ovm.AccountBootstrapping, 1), nil, 0},
		{"cleaning accounts count as stock when recycling",
			poolPolicy(func(p *ovm.Pool) { p.Stock.Target = 2; p.Retire.Mode = ovm.RetireRecycle }), counts(ovm.AccountCleaning, 2), nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := engine.PlanStock(c.pol, c.c, c.quota, t0); got.Create != c.want {
				t.Fatalf("create %d (%s), want %d", got.Create, got.Why, c.want)
			}
		})
	}
	spaced := poolPolicy(func(p *ovm.Pool) { p.Stock.MinSpacing = time.Hour })
	c := counts()
	c.LastCreatedAt = t0.Add(-30 * time.Minute)
	if got := engine.PlanStock(spaced, c, nil, t0); got.Create != 0 || !got.NextAt.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("within spacing: %+v", got)
	}
}
