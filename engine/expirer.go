package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/ovmdev/ovm"
)

// Expirer ends leases whose expiry has passed.
type Expirer struct{ e *Engine }

// RunOnce ends up to BatchSize expired leases, moving their accounts on by
// their pool's retire policy. It returns how many leases it ended.
func (x *Expirer) RunOnce(ctx context.Context) (int, error) {
	e := x.e
	now := e.clock.Now()
	leases, err := e.store.LeaseListExpired(ctx, now, e.cfg.BatchSize)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, l := range leases {
		e.crash("expirer.before-end")
		_, err := e.EndLease(ctx, l, ovm.LeaseExpired, ovm.ActorExpirer)
		switch {
		case ovm.ErrorCodeOf(err) == ovm.EConflict:
			continue // released or extended meanwhile
		case err != nil:
			errs = append(errs, fmt.Errorf("lease %s: %w", l.ID, err))
			continue
		}
		n++
		e.log.Info("lease expired", ovm.LogLeaseID, l.ID, ovm.LogAccountID, l.AccountID, ovm.LogPool, l.Pool)
	}
	return n, errors.Join(errs...)
}
