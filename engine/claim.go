package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// renewal renews a worker's claim on an account while its step runs.
type renewal struct {
	mu   sync.Mutex
	a    *ovm.Account // as last stored: the step's outcome is recorded on it
	quit chan struct{}
	done chan struct{}
}

// renew renews the claim on a (as stored) every third of the claim's TTL
// until stop. When a renewal cannot be written for so long that the claim
// is about to lapse, it cancels the step (cancel): another replica may
// take the account over then, and the two must not act on it together.
func (r *Runner) renew(ctx context.Context, cancel context.CancelFunc, a *ovm.Account) *renewal {
	e := r.e
	rn := &renewal{a: a, quit: make(chan struct{}), done: make(chan struct{})}
	every := e.cfg.ClaimTTL / 3
	go func() {
		defer close(rn.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-rn.quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rn.mu.Lock()
			cur := rn.a
			rn.mu.Unlock()
			now := e.clock.Now()
			u, err := ovm.ClaimAccount(cur, e.cfg.Instance, now, now.Add(e.cfg.ClaimTTL))
			var stored *ovm.Account
			if err == nil {
				stored, err = e.store.AccountUpdate(ctx, u)
			}
			if err == nil {
				rn.mu.Lock()
				rn.a = stored
				rn.mu.Unlock()
				continue
			}
			if errors.Is(err, ovm.ErrConflict) || !now.Add(every).Before(cur.ClaimedUntil) {
				// Lost (the account moved on under another worker), or the
				// claim lapses before the next try: stop the step.
				e.log.Warn("the claim on a running step cannot be renewed; stopping the step", ovm.LogAccountID, cur.ID, ovm.LogError, err)
				cancel()
				return
			}
			e.log.Warn("claim renewal failed; trying again", ovm.LogAccountID, cur.ID, ovm.LogError, err)
		}
	}()
	return rn
}

// stop ends the renewals and returns the account as last stored.
func (rn *renewal) stop() *ovm.Account {
	close(rn.quit)
	<-rn.done
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.a
}
