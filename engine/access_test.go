package engine_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/sim"
)

// Parallel requests for one lease's credentials pass the rate's count one
// at a time: no more than api.access_issues are issued in the window, and
// each refusal says when to retry.
func TestParallelIssuesOfALeaseStayWithinItsRate(t *testing.T) {
	w := newWorld(t, sim.DefaultConfig(), poolPolicy())
	w.cfg.Access.Issues = 5
	w.build()
	w.settle(20, time.Second)
	l := w.vend("alice")
	var (
		wg                 sync.WaitGroup
		issued, refused, n atomic.Int64
	)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				n.Add(1)
				_, err := w.eng.Credentials(context.Background(), l, "alice")
				switch {
				case err == nil:
					issued.Add(1)
				case ovm.ErrorCodeOf(err) == ovm.ELimitExceeded:
					refused.Add(1)
				default:
					t.Errorf("credentials: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if issued.Load() != 5 || refused.Load() != n.Load()-5 {
		t.Fatalf("%d issued and %d refused of %d, want 5 issued (api.access_issues) and the rest refused", issued.Load(), refused.Load(), n.Load())
	}
	evs, _, err := w.store.EventList(context.Background(), &ovm.EventListParams{LeaseID: l.ID, Kind: ovm.EventAccess})
	if err != nil || len(evs) != 5 {
		t.Fatalf("%d access events (%v), want one per issue", len(evs), err)
	}
}
