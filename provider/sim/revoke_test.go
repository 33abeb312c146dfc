package sim_test

import (
	"context"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/providertest"
	"github.com/ovmdev/ovm/provider/sim"
)

// built returns an account of p, created and bootstrapped.
func built(t *testing.T, p *sim.Provider) *ovm.Account {
	t.Helper()
	a := providertest.NewAccount(p)
	r, err := p.Create(context.Background(), a)
	if err != nil || r.Status != ovm.StepDone {
		t.Fatalf("create: %+v %v", r, err)
	}
	a.AWSAccountID = r.AWSAccountID
	if r, err := p.Bootstrap(context.Background(), a); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("bootstrap: %+v %v", r, err)
	}
	return a
}

func denyBefore(t *testing.T, p *sim.Provider, awsID string) time.Time {
	t.Helper()
	for _, a := range p.Accounts() {
		if a.ID == awsID {
			return a.DenyBefore
		}
	}
	t.Fatalf("no simulated account %s", awsID)
	return time.Time{}
}

// The deny names whole seconds, as IAM's aws:TokenIssueTime condition
// does: a lease that ends within a second must still deny the sessions
// issued in that second before its end.
func TestTheDenyRoundsTheLeasesEndUpToTheSecond(t *testing.T) {
	p, err := sim.New(sim.Config{}, clocktest.New(t0))
	if err != nil {
		t.Fatal(err)
	}
	a := built(t, p)
	end := t0.Add(10*time.Minute + 400*time.Millisecond)
	if r, err := p.Revoke(context.Background(), a, ovm.Revocation{LeaseID: "lse_1", Before: end}); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	if got, want := denyBefore(t, p, a.AWSAccountID), t0.Add(10*time.Minute+time.Second); !got.Equal(want) {
		t.Errorf("deny before %s, want the end %s rounded up to %s", got, end, want)
	}
	for _, c := range []struct {
		issued  time.Time
		allowed bool
	}{
		{t0, false},
		{t0.Add(10 * time.Minute), false},   // the end's second, before the end
		{end.Add(-time.Millisecond), false}, // a millisecond before the end
		{end, false},                        // at the end, within its second
		{t0.Add(10*time.Minute + 999*time.Millisecond), false}, // the last instant of that second
		{t0.Add(10*time.Minute + time.Second), true},           // the next second: a later lease's
		{t0.Add(11 * time.Minute), true},
	} {
		if got := p.Session(a.AWSAccountID, c.issued); got != c.allowed {
			t.Errorf("a session issued at %s: allowed %v, want %v", c.issued.Format(time.RFC3339Nano), got, c.allowed)
		}
	}

	// An end on a whole second is kept as it is, and a later revocation
	// with an earlier end does not move the deny back.
	b := built(t, p)
	if _, err := p.Revoke(context.Background(), b, ovm.Revocation{LeaseID: "lse_2", Before: t0.Add(20 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if got := denyBefore(t, p, b.AWSAccountID); !got.Equal(t0.Add(20 * time.Minute)) {
		t.Errorf("an end on a whole second denies before %s", got)
	}
	if _, err := p.Revoke(context.Background(), b, ovm.Revocation{LeaseID: "lse_0", Before: t0.Add(5*time.Minute + time.Nanosecond)}); err != nil {
		t.Fatal(err)
	}
	if got := denyBefore(t, p, b.AWSAccountID); !got.Equal(t0.Add(20 * time.Minute)) {
		t.Errorf("an older lease's revocation moved the deny to %s", got)
	}
}
