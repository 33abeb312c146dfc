package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// The notifications no single change writes, derived by the leader of lease
// "notify" from durable state: lease.expiring, pool.low, pool.empty.

// stockLevel is a pool's stock level as its last stock event recorded it:
// "ok", pool.low or pool.empty, and when.
type stockLevel struct {
	level string
	at    time.Time
}

// scan writes the lease.expiring, pool.low and pool.empty notifications,
// every ScanInterval, on the leader.
func (n *Notifier) scan(ctx context.Context) error {
	e := n.e
	now := e.clock.Now()
	n.mu.Lock()
	due := now.Sub(n.lastScan) >= n.cfg.ScanInterval
	n.mu.Unlock()
	if !due {
		return nil
	}
	if ok, err := e.lead(ctx, "notify", 2*n.cfg.ScanInterval+e.cfg.LeaderTTL); !ok || err != nil {
		return err
	}
	n.mu.Lock()
	n.lastScan = now
	n.mu.Unlock()
	return errors.Join(n.scanExpiring(ctx, now), n.scanStock(ctx, now), n.prune(ctx, now))
}

// prune deletes delivered notifications older than the retention, up to
// a page a scan.
func (n *Notifier) prune(ctx context.Context, now time.Time) error {
	if n.cfg.Retention < 0 {
		return nil
	}
	pruned, err := n.e.store.DeliveryPrune(ctx, ovm.DeliveryIDBefore(now.Add(-n.cfg.Retention)), ovm.MaxPageLimit)
	if pruned > 0 {
		n.e.log.Debug("delivered notifications pruned", ovm.LogCount, pruned)
	}
	return err
}

// scanExpiring writes lease.expiring for every active lease that expires
// within the lead time. Its id derives from the lease and its expiry, so a
// repeat (another leader, a restart) finds it written.
func (n *Notifier) scanExpiring(ctx context.Context, now time.Time) error {
	if n.cfg.ExpiringLead < 0 {
		return nil
	}
	leases, err := n.e.store.LeaseListExpired(ctx, now.Add(n.cfg.ExpiringLead), ovm.MaxPageLimit)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	seen := map[string]bool{}
	var errs []error
	for _, l := range leases {
		if !l.ExpiresAt.After(now) {
			continue // expired: lease.ended follows
		}
		note := ovm.ExpiringNotification(l)
		if n.expiring[note.ID] {
			seen[note.ID] = true
			continue
		}
		if err := n.e.store.DeliveryAdd(ctx, ovm.NewDelivery(note, now)); err != nil && !errors.Is(err, ovm.ErrConflict) {
			errs = append(errs, fmt.Errorf("lease %s: %w", l.ID, err))
			continue
		}
		seen[note.ID] = true
	}
	n.expiring = seen // forget leases that left the window
	return errors.Join(errs...)
}

// lowStock is pool p's low mark under c.
func (c NotifyConfig) lowStock(p ovm.Pool) int {
	if low, ok := c.LowStock[p.Name]; ok {
		return low
	}
	return (p.Stock.Target + 1) / 2
}

// scanStock writes pool.low or pool.empty when a pool's ready stock enters
// that level, and records every change of level as a stock event of the
// pool. A leader starts from the last recorded level, not from what it
// sees first: a fall that a leader saw and died before reporting is
// reported by the next one, once (the notification's id derives from the
// fall, and the event is written after it).
func (n *Notifier) scanStock(ctx context.Context, now time.Time) error {
	var errs []error
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.level == nil {
		n.level = map[string]stockLevel{}
	}
	for name, p := range n.e.pools {
		pol, _, err := n.e.withTarget(ctx, p) // a target that follows demand: its value now
		if err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", name, err))
			continue
		}
		if pol.Stock.Target == 0 {
			continue
		}
		c, err := n.e.store.PoolCounts(ctx, name)
		if err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", name, err))
			continue
		}
		ready := c.ByState[ovm.AccountReady]
		level := string(ovm.StockLevel(ready, n.cfg.lowStock(pol)))
		if level == "" {
			level = "ok"
		}
		prev, known := n.level[name]
		if !known {
			if prev, err = n.lastStockLevel(ctx, name); err != nil {
				errs = append(errs, fmt.Errorf("pool %s: %w", name, err))
				continue
			}
		}
		if level == prev.level {
			n.level[name] = prev
			continue
		}
		if level != "ok" {
			note := ovm.StockNotification(ovm.NotificationType(level), name, ready, pol.Stock.Target, prev.at, now)
			if err := n.e.store.DeliveryAdd(ctx, ovm.NewDelivery(note, now)); err != nil && !errors.Is(err, ovm.ErrConflict) {
				errs = append(errs, fmt.Errorf("pool %s: %w", name, err))
				continue // try again at the next scan
			}
		}
		n.e.crash("notify.after-stock-alert")
		if err := n.e.store.EventAppend(ctx, &ovm.Event{Time: now, Kind: ovm.EventStock, Pool: name, Actor: ovm.ActorEngine,
			From: prev.level, To: level, Reason: fmt.Sprintf("%d ready of a target of %d", ready, pol.Stock.Target)}); err != nil {
			errs = append(errs, fmt.Errorf("pool %s: %w", name, err))
			continue
		}
		n.level[name] = stockLevel{level: level, at: now}
	}
	return errors.Join(errs...)
}

// lastStockLevel is pool's stock level as its newest stock event recorded
// it ("ok" at the zero time when there is none).
func (n *Notifier) lastStockLevel(ctx context.Context, pool string) (stockLevel, error) {
	ev, _, err := n.e.store.EventList(ctx, &ovm.EventListParams{Pool: pool, Kind: ovm.EventStock, Newest: true,
		PageParams: ovm.PageParams{Limit: 1}})
	if err != nil || len(ev) == 0 {
		return stockLevel{level: "ok"}, err
	}
	return stockLevel{level: ev[0].To, at: ev[0].Time}, nil
}
