package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// NotifyConfig configures notifications. Zero fields take the documented
// defaults.
type NotifyConfig struct {
	// Subscriptions receive the notifications they want. With none, the
	// outbox entries are settled as delivered to nobody.
	Subscriptions []*ovm.Subscription
	// Retry bounds the sending of one delivery to one subscription:
	// MaxAttempts tries (default 8), the backoff between rounds from
	// BaseDelay (default 5s) doubling up to MaxDelay (default 10m). After
	// MaxAttempts the subscription's share is kept as failed.
	Retry ovm.RetryPolicy
	// ExpiringLead is how long before a lease's expiry lease.expiring is
	// sent (default 1h; negative: never).
	ExpiringLead time.Duration
	// LowStock is, per pool, the ready stock below which pool.low is sent
	// (default: half the pool's target, rounded up).
	LowStock map[string]int
	// Interval is how often due deliveries are looked for (default: the
	// engine's Tick).
	Interval time.Duration
	// ScanInterval is how often the leader looks for expiring leases and
	// low stock (default 15s).
	ScanInterval time.Duration
	// ClaimTTL is how long a worker's claim on a delivery lasts (default
	// 2m): the sends of all its subscriptions fit in it.
	ClaimTTL time.Duration
	// SendTimeout bounds one send to one subscription when its sink sets
	// no shorter deadline (default 30s; at most half of ClaimTTL).
	SendTimeout time.Duration
	// Retention is how long delivered notifications are kept, counted
	// from their time (default 30 days; negative: for ever). Failed and
	// pending ones are kept until they are delivered.
	Retention time.Duration
}

func (c NotifyConfig) withDefaults(e Config) NotifyConfig {
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = 8
	}
	if c.Retry.BaseDelay == 0 {
		c.Retry.BaseDelay = 5 * time.Second
	}
	if c.Retry.MaxDelay == 0 {
		c.Retry.MaxDelay = 10 * time.Minute
	}
	if c.ExpiringLead == 0 {
		c.ExpiringLead = time.Hour
	}
	if c.Interval == 0 {
		c.Interval = e.Tick
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = 15 * time.Second
	}
	if c.ClaimTTL == 0 {
		c.ClaimTTL = 2 * time.Minute
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = min(30*time.Second, c.ClaimTTL/2)
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	return c
}

// DeliveryObserver is an Observer that is also told of every send of a
// notification to a subscription: result is "delivered", "retry" (it
// failed and will be tried again) or "failed" (it failed for good).
type DeliveryObserver interface {
	Delivery(subscription, result string)
}

// Notifier sends the outbox's notifications to their subscriptions. Every
// replica sends: each delivery is claimed by a compare-and-set that pushes
// its due time to the claim's expiry, so one replica sends it, and a
// replica that dies mid-send leaves it due again (at least once). The
// leader of lease "notify" also derives the notifications that no single
// change writes: lease.expiring from the stored expiries, and pool.low and
// pool.empty from the pools' counts; and it prunes delivered ones older
// than the retention.
type Notifier struct {
	e    *Engine
	cfg  NotifyConfig
	kick chan struct{}

	mu       sync.Mutex
	lastScan time.Time
	expiring map[string]bool       // lease.expiring entries known written, by id
	level    map[string]stockLevel // stock level as last recorded, by pool
}

func newNotifier(e *Engine, cfg NotifyConfig) *Notifier {
	return &Notifier{e: e, cfg: cfg, kick: make(chan struct{}, 1)}
}

// Kick makes the loop look for due deliveries now.
func (n *Notifier) Kick() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// RunOnce derives the notifications of durable state when due and this
// engine leads, then sends up to BatchSize due deliveries. It returns how
// many deliveries it settled.
func (n *Notifier) RunOnce(ctx context.Context) (int, error) {
	err := n.scan(ctx)
	settled, derr := n.deliver(ctx)
	return settled, errors.Join(err, derr)
}

// deliver sends up to BatchSize due deliveries, Parallelism at a time.
func (n *Notifier) deliver(ctx context.Context) (int, error) {
	e := n.e
	ds, err := e.store.DeliveryListDue(ctx, e.clock.Now(), e.cfg.BatchSize)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		settled int
		errs    []error
	)
	sem := make(chan struct{}, e.cfg.Parallelism)
	for _, d := range ds {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok, err := n.deliverOne(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				settled++
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("delivery %s: %w", d.ID, err))
			}
		}()
	}
	wg.Wait()
	return settled, errors.Join(errs...)
}

// deliverOne claims d, sends it to each pending target and records the
// results. It reports whether it settled d.
func (n *Notifier) deliverOne(ctx context.Context, d *ovm.Delivery) (bool, error) {
	e := n.e
	now := e.clock.Now()
	c, err := ovm.ClaimDelivery(d, n.cfg.Subscriptions, e.cfg.Instance, now, now.Add(n.cfg.ClaimTTL))
	if err != nil {
		return false, nil // listed before it moved on
	}
	if c, err = e.store.DeliveryUpdate(ctx, c); errors.Is(err, ovm.ErrConflict) {
		return false, nil // another replica has it
	} else if err != nil {
		return false, err
	}
	results := n.send(ctx, c)
	if len(results) > 0 { // a delivery to no subscription sends nothing
		e.crash("notify.after-send")
	}
	s := ovm.SettleDelivery(c, results, n.cfg.Retry, e.clock.Now())
	if _, err := e.store.DeliveryUpdate(ctx, s); err != nil {
		// The claim lapses and the delivery is sent again: at least once.
		return false, fmt.Errorf("record the sending: %w", err)
	}
	obs, _ := e.cfg.Observer.(DeliveryObserver)
	for _, t := range s.Targets {
		if _, tried := results[t.Subscription]; !tried {
			continue
		}
		result := "delivered"
		switch {
		case t.State == ovm.DeliveryFailed:
			result = "failed"
			e.log.Warn("notification not delivered; kept as failed", ovm.LogDeliveryID, s.ID, ovm.LogSubscription, t.Subscription,
				ovm.LogError, t.LastError)
		case t.State == ovm.DeliveryPending:
			result = "retry"
			e.log.Debug("notification not delivered; retrying", ovm.LogDeliveryID, s.ID, ovm.LogSubscription, t.Subscription,
				ovm.LogError, t.LastError)
		}
		if obs != nil {
			obs.Delivery(t.Subscription, result)
		}
	}
	return true, nil
}

// send sends claimed delivery c to each of its pending targets, at once.
func (n *Notifier) send(ctx context.Context, c *ovm.Delivery) map[string]error {
	subs := map[string]*ovm.Subscription{}
	for _, s := range n.cfg.Subscriptions {
		subs[s.Name] = s
	}
	results := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range c.Targets {
		if t.State != ovm.DeliveryPending {
			continue
		}
		sub := subs[t.Subscription]
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := errors.New("the subscription is no longer configured")
			if sub != nil {
				sctx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout)
				err = sub.Sink.Send(sctx, c.Event)
				cancel()
			}
			mu.Lock()
			results[t.Subscription] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

// RetryDelivery sends delivery id again, at once (its failed targets, or
// every target of a delivered one). ErrNotFound if there is none; an
// EConflict error if it is still pending.
func (e *Engine) RetryDelivery(ctx context.Context, id string) (*ovm.Delivery, error) {
	d, err := e.store.DeliveryGet(ctx, id)
	if err != nil {
		return nil, err
	}
	r, err := ovm.RetryDelivery(d, e.clock.Now())
	if err != nil {
		return nil, err
	}
	if r, err = e.store.DeliveryUpdate(ctx, r); err != nil {
		return nil, err
	}
	e.notifier.Kick()
	return r, nil
}

// DeliveryCount counts the outbox entries in state (from the store, the
// same on every replica).
func (e *Engine) DeliveryCount(ctx context.Context, state ovm.DeliveryState) (int, error) {
	return e.store.DeliveryCount(ctx, state)
}
