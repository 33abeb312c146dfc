package engine

import (
	"context"
	"time"

	"github.com/ovmdev/ovm"
)

// RetentionConfig is how long the store keeps records (Store.Prune). Zero
// fields take the documented defaults.
type RetentionConfig struct {
	// Events, Leases and Accounts are how long events, ended leases and
	// closed or abandoned accounts are kept (default 8760h each: an audit
	// year). Miss counts are kept as long as the longest demand lookback
	// and a day; idempotency keys their window and an hour.
	Events, Leases, Accounts time.Duration
	// Interval is how often the leader prunes (default 1h).
	Interval time.Duration
}

func (c RetentionConfig) withDefaults() RetentionConfig {
	const year = 8760 * time.Hour
	for _, d := range []*time.Duration{&c.Events, &c.Leases, &c.Accounts} {
		if *d == 0 {
			*d = year
		}
	}
	if c.Interval == 0 {
		c.Interval = time.Hour
	}
	return c
}

// pruneBatch is what one Prune call deletes at most of each kind, and
// pruneRounds how many calls one run makes: a run's cost is bounded, and
// a backlog (a first run on a year of records) drains over a few runs.
const (
	pruneBatch  = 500
	pruneRounds = 20
)

// Retainer deletes what the retention no longer keeps, on the leader.
type Retainer struct{ e *Engine }

// cutoffs are the retention's cutoffs at now.
func (x *Retainer) cutoffs(now time.Time) *ovm.PruneParams {
	r := x.e.cfg.Retention
	lookback := 4 * ovm.Week
	for _, p := range x.e.pools {
		if a := p.Policy.Stock.Auto; a != nil && a.Lookback > lookback {
			lookback = a.Lookback
		}
	}
	return &ovm.PruneParams{Events: now.Add(-r.Events), Leases: now.Add(-r.Leases), Accounts: now.Add(-r.Accounts),
		Misses: now.Add(-lookback - 24*time.Hour), IdempotencyKeys: now.Add(-ovm.IdempotencyWindow - time.Hour), Limit: pruneBatch}
}

// RunOnce prunes, on the holder of the retention's leader lease, and
// returns how many records it deleted.
func (x *Retainer) RunOnce(ctx context.Context) (int, error) {
	e := x.e
	if ok, err := e.lead(ctx, "retention", 2*e.cfg.Retention.Interval); !ok || err != nil {
		return 0, err
	}
	p := x.cutoffs(e.clock.Now())
	total := &ovm.PruneCounts{}
	for range pruneRounds {
		n, err := e.store.Prune(ctx, p)
		if err != nil {
			return total.Total(), err
		}
		total.Events += n.Events
		total.Leases += n.Leases
		total.Accounts += n.Accounts
		total.Misses += n.Misses
		total.IdempotencyKeys += n.IdempotencyKeys
		if max(n.Events, n.Leases, n.Accounts, n.Misses, n.IdempotencyKeys) < pruneBatch {
			break
		}
	}
	// A lease's spend ledger goes with the lease.
	ledgers := 0
	for range pruneRounds {
		n, err := e.store.SpendPrune(ctx, p.Leases, pruneBatch)
		ledgers += n
		if err != nil {
			return total.Total() + ledgers, err
		}
		if n < pruneBatch {
			break
		}
	}
	if total.Total()+ledgers > 0 {
		e.log.Info("retention pruned", "events", total.Events, "leases", total.Leases, "accounts", total.Accounts,
			"misses", total.Misses, "idempotency_keys", total.IdempotencyKeys, "spend_ledgers", ledgers)
	}
	return total.Total() + ledgers, nil
}
