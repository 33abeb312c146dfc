package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ovmdev/ovm"
)

// SpendConfig configures the spend worker (docs/spend.md).
type SpendConfig struct {
	// Sources are the queues of the lessee's events (none: events are not
	// read).
	Sources []ovm.SpendSource
	// Interval is how often the worker takes in events (default 5s).
	Interval time.Duration
	// SweepInterval is how often each leased account of a pool whose
	// provider sweeps (ovm.SpendSweeper) is swept (default 10m).
	SweepInterval time.Duration
	// Reporter, when set, reads what AWS bills every ReconcileInterval
	// (default 1h).
	Reporter          ovm.CostReporter
	ReconcileInterval time.Duration
	// LateEvents is how long after a lease's end its events are still
	// taken in (CloudTrail delivers within minutes): its ledger is closed
	// then (default 15m).
	LateEvents time.Duration
	// Settle is how long after a lease's end its bill is settled by the
	// estimate for the days Cost Explorer has not reported (default 48h;
	// spend.settle).
	Settle time.Duration
	// Price prices what a sweep found (nil: all of it unpriced).
	Price func(typ, size, region string) (usdPerHour float64, ok bool)
	// Observer is told what the worker does (metrics).
	Observer SpendObserver
}

// SpendObserver is told what the spend worker does, for metrics.
type SpendObserver interface {
	// Event reports one message: its result (counted, duplicate, own,
	// unmatched, unreadable, error) and, when counted, its lag from the
	// event's time.
	Event(result string, lag time.Duration)
	// Ledgers reports, after a round, the spend of active leases by pool
	// and template, their unpriced resources by pool, and the estimate's
	// error over the days AWS reported.
	Ledgers(spend map[[2]string]float64, unpriced map[string]int, estimateError float64)
}

type nopSpendObserver struct{}

func (nopSpendObserver) Event(string, time.Duration)                            {}
func (nopSpendObserver) Ledgers(map[[2]string]float64, map[string]int, float64) {}

func (c SpendConfig) withDefaults() SpendConfig {
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = 10 * time.Minute
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = time.Hour
	}
	if c.LateEvents == 0 {
		c.LateEvents = 15 * time.Minute
	}
	if c.Settle == 0 {
		c.Settle = 48 * time.Hour
	}
	if c.Observer == nil {
		c.Observer = nopSpendObserver{}
	}
	return c
}

// Spender is the spend worker: on the leader, it takes in the sources'
// events, folds them into each lease's ledger exactly once (the ledger
// remembers the events it applied; its write is a compare-and-set), then
// acknowledges them; it sweeps, reconciles with the bill and closes the
// ledgers of ended leases.
type Spender struct {
	e           *Engine
	cfg         SpendConfig
	lastSweep   time.Time
	lastReport  time.Time
	lastBill    time.Time
	lastLedgers time.Time
	// ending are the ended leases whose ledgers still take late events, by
	// account (closeAndObserve).
	ending map[string][]*ovm.Lease
	// opened are the active leases known to have a ledger.
	opened map[string]bool
	// changed are the summaries of the ledgers this round wrote, by lease;
	// frozen the frozen leases whose freeze is known to be in place.
	changed map[string]*ovm.SpendSummary
	frozen  map[string]bool
}

// maxSpendReceives bounds one round's receives from one source (SQS gives
// at most 10 messages a receive).
const maxSpendReceives = 200

// spendLeader is the leader lease of the spend worker.
const spendLeader = "spend"

// RunOnce runs one round.
func (s *Spender) RunOnce(ctx context.Context) (int, error) {
	if len(s.cfg.Sources) == 0 && s.cfg.Reporter == nil && !s.anySweeper() {
		return 0, nil
	}
	if ok, err := s.e.lead(ctx, spendLeader, s.e.cfg.LeaderTTL); !ok {
		return 0, err
	}
	active, err := s.e.activeLeases(ctx)
	if err != nil {
		return 0, err
	}
	var errs []error
	errs = append(errs, s.open(ctx, active))
	s.changed = map[string]*ovm.SpendSummary{}
	if s.frozen == nil {
		s.frozen = map[string]bool{}
	}
	now := s.e.clock.Now()
	if s.ending == nil || now.Sub(s.lastLedgers) >= s.cfg.Interval {
		s.lastLedgers = now
		sums, err := s.closeAndObserve(ctx, active)
		errs = append(errs, err)
		// Budgets by the time that passed (a burn crossing a threshold).
		errs = append(errs, s.budgets(ctx, active, sums, true))
	}
	byAccount := map[string][]*ovm.Lease{}
	for _, l := range active {
		byAccount[l.AWSAccountID] = append(byAccount[l.AWSAccountID], l)
	}
	for acct, ls := range s.ending {
		byAccount[acct] = append(byAccount[acct], ls...)
	}
	for _, src := range s.cfg.Sources {
		if sim, ok := src.(ovm.SpendSimulator); ok {
			if err := sim.Simulate(ctx, active); err != nil {
				errs = append(errs, err)
			}
		}
	}
	n := 0
	for _, src := range s.cfg.Sources {
		// Until the queue is empty (a backlog drains in one round), at most
		// maxSpendReceives receives.
		for range maxSpendReceives {
			k, err := s.takeIn(ctx, src, byAccount)
			n += k
			if err != nil {
				errs = append(errs, err)
			}
			if k == 0 || err != nil || ctx.Err() != nil {
				break
			}
		}
	}
	now = s.e.clock.Now()
	if now.Sub(s.lastSweep) >= s.cfg.SweepInterval {
		s.lastSweep = now
		errs = append(errs, s.sweep(ctx, active))
	}
	if s.cfg.Reporter != nil && now.Sub(s.lastReport) >= s.cfg.ReconcileInterval {
		s.lastReport = now
		errs = append(errs, s.reconcile(ctx, active))
	}
	if now.Sub(s.lastBill) >= s.cfg.ReconcileInterval {
		s.lastBill = now
		errs = append(errs, s.bill(ctx))
	}
	// Budgets by what this round wrote (a launch, a sweep, the bill).
	errs = append(errs, s.budgets(ctx, active, s.changed, false))
	return n, errors.Join(errs...)
}

func (s *Spender) anySweeper() bool {
	for _, p := range s.e.pools {
		if _, ok := p.Provider.(ovm.SpendSweeper); ok {
			return true
		}
	}
	return false
}

// activeLeases lists every active lease.
func (e *Engine) activeLeases(ctx context.Context) ([]*ovm.Lease, error) {
	var out []*ovm.Lease
	p := &ovm.LeaseListParams{State: ovm.LeaseActive, PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}}
	for {
		page, next, err := e.store.LeaseList(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		p.Cursor = next
	}
}

// takeIn takes one batch from src and records it.
func (s *Spender) takeIn(ctx context.Context, src ovm.SpendSource, byAccount map[string][]*ovm.Lease) (int, error) {
	msgs, err := src.Receive(ctx)
	if err != nil {
		s.cfg.Observer.Event("error", 0)
		return 0, fmt.Errorf("spend: receive: %w", err)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	now := s.e.clock.Now()
	perLease := map[string][]*ovm.SpendMessage{}
	var ack []string
	leases := map[string]*ovm.Lease{}
	for _, m := range msgs {
		if m.At.After(now) {
			m.At = now // a time ahead of OVM's clock counts from now, never later
		}
		for _, c := range m.Changes {
			if c.At.After(now) {
				c.At = now
			}
		}
		l, stale := leaseAt(byAccount[m.AWSAccountID], m.At)
		switch {
		case l == nil && m.Err != nil:
			s.cfg.Observer.Event("unreadable", 0)
			s.e.log.Warn("a spend event could not be read", ovm.LogError, m.Err)
			ack = append(ack, m.Handle)
		case stale:
			// The account's previous lease, or its time in stock: not this
			// lessee's spend.
			s.cfg.Observer.Event("stale", 0)
			ack = append(ack, m.Handle)
		case l == nil:
			s.cfg.Observer.Event("unmatched", 0) // an account no lease holds now
			ack = append(ack, m.Handle)
		default:
			leases[l.ID] = l
			perLease[l.ID] = append(perLease[l.ID], m)
		}
	}
	var errs []error
	for id, ms := range perLease {
		l := leases[id]
		results, err := s.apply(ctx, l, func(g *ovm.SpendLedger) ([]string, bool) {
			results, changed := make([]string, len(ms)), false
			for i, m := range ms {
				switch {
				case m.Err != nil:
					g.AddError(now, "events", m.Err.Error())
					results[i] = "unreadable"
				case len(m.Changes) == 0:
					// Nothing priced (OVM's own call, a failed one, another
					// service's): not remembered, so it cannot push a real
					// event's id out of the ledger's memory.
					results[i] = "own"
				case g.Apply(m.EventID, m.Changes):
					results[i] = "counted"
				default:
					results[i] = "duplicate"
				}
				changed = changed || results[i] == "counted" || results[i] == "unreadable"
			}
			return results, changed
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.e.crash("spend.after-apply")
		for i, m := range ms {
			ack = append(ack, m.Handle)
			var lag time.Duration
			if results[i] == "counted" {
				lag = now.Sub(m.At)
			}
			s.cfg.Observer.Event(results[i], lag)
		}
	}
	if err := src.Ack(ctx, ack); err != nil {
		// Not acknowledged: they come again and count nothing twice.
		errs = append(errs, fmt.Errorf("spend: acknowledge: %w", err))
	}
	return len(msgs), errors.Join(errs...)
}

// open gives every active lease a ledger, so that its end is noticed and
// its late events are taken in even when it had none before.
func (s *Spender) open(ctx context.Context, active []*ovm.Lease) error {
	opened := make(map[string]bool, len(active))
	var errs []error
	for _, l := range active {
		if s.opened[l.ID] {
			opened[l.ID] = true
			continue
		}
		_, err := s.e.store.SpendGet(ctx, l.ID)
		if errors.Is(err, ovm.ErrNotFound) {
			g := ovm.NewSpendLedger(l)
			g.Version, g.UpdatedAt = 1, s.e.clock.Now()
			g.Spend = g.Summarize(g.UpdatedAt)
			if err = s.e.store.SpendPut(ctx, g); errors.Is(err, ovm.ErrConflict) {
				err = nil // another writer made it
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		opened[l.ID] = true
	}
	s.opened = opened
	return errors.Join(errs...)
}

// leaseAt is the lease of candidates (one account's active lease and
// those ended within the late-event window) whose time holds at; stale
// when the account has leases but none held it then.
// CloudTrail's times are whole seconds: a call in the lease's first second
// may read as before it.
func leaseAt(candidates []*ovm.Lease, at time.Time) (l *ovm.Lease, stale bool) {
	for _, c := range candidates {
		if !at.Before(c.CreatedAt.Truncate(time.Second)) && (c.State == ovm.LeaseActive || at.Before(c.EndedAt)) {
			return c, false
		}
	}
	return nil, len(candidates) > 0
}

// apply reads lease l's ledger (or starts it), lets fn change it and
// writes it with a compare-and-set, again from a fresh read on a
// conflict; fn's result of the write that was made is returned. When fn
// reports no change, nothing is written.
func (s *Spender) apply(ctx context.Context, l *ovm.Lease, fn func(*ovm.SpendLedger) ([]string, bool)) ([]string, error) {
	res, g, err := s.e.applySpend(ctx, l, fn)
	if err == nil && g != nil && s.changed != nil {
		s.changed[l.ID] = g.Summary()
	}
	return res, err
}

// applySpend changes lease l's ledger with fn (read again and changed
// again after a lost compare-and-set); g is the ledger written (nil when
// fn changed nothing).
func (e *Engine) applySpend(ctx context.Context, l *ovm.Lease, fn func(*ovm.SpendLedger) ([]string, bool)) ([]string, *ovm.SpendLedger, error) {
	for attempt := 0; ; attempt++ {
		g, err := e.store.SpendGet(ctx, l.ID)
		if errors.Is(err, ovm.ErrNotFound) {
			g, err = ovm.NewSpendLedger(l), nil
		}
		if err != nil {
			return nil, nil, err
		}
		res, changed := fn(g)
		if !changed {
			return res, nil, nil // redeliveries only: nothing to write
		}
		g.Version++
		g.UpdatedAt = e.clock.Now()
		g.Spend = g.Summarize(g.UpdatedAt)
		err = e.store.SpendPut(ctx, g)
		if err == nil {
			return res, g, nil
		}
		if !errors.Is(err, ovm.ErrConflict) || attempt >= 8 {
			return nil, nil, fmt.Errorf("spend: ledger of lease %s: %w", l.ID, err)
		}
	}
}

// sweep corrects the ledgers of active leases by what their accounts run.
func (s *Spender) sweep(ctx context.Context, active []*ovm.Lease) error {
	var errs []error
	for _, l := range active {
		p := s.e.pools[l.Pool]
		if p == nil {
			continue
		}
		sw, ok := p.Provider.(ovm.SpendSweeper)
		if !ok {
			continue
		}
		a, err := s.e.store.AccountGet(ctx, l.AccountID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, s.e.cfg.StepTimeout)
		res, err := sw.SpendSweep(sctx, a)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("spend: sweep of lease %s: %w", l.ID, err))
			continue
		}
		now := s.e.clock.Now()
		for i := range res.Found {
			f := &res.Found[i]
			f.Unpriced = true
			if s.cfg.Price != nil {
				if usd, ok := s.cfg.Price(f.Type, f.Size, f.Region); ok {
					f.USDPerHour, f.Unpriced = usd, false
				}
			}
		}
		if _, err := s.apply(ctx, l, func(g *ovm.SpendLedger) ([]string, bool) {
			if g.Final {
				return nil, false
			}
			g.Sweep(now, res)
			for _, e := range res.Errors {
				g.AddError(now, "sweep", e)
			}
			return nil, true
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reconcile reads the bill of the active leases' accounts since the
// oldest lease's start.
func (s *Spender) reconcile(ctx context.Context, active []*ovm.Lease) error {
	if len(active) == 0 {
		return nil
	}
	from := s.e.clock.Now()
	var ids []string
	for _, l := range active {
		if l.CreatedAt.Before(from) {
			from = l.CreatedAt
		}
		ids = append(ids, l.AWSAccountID)
	}
	slices.Sort(ids)
	from = from.UTC().Truncate(24 * time.Hour)
	to := s.e.clock.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	rctx, cancel := context.WithTimeout(ctx, s.e.cfg.StepTimeout)
	bill, err := s.cfg.Reporter.DailyCost(rctx, slices.Compact(ids), from, to)
	cancel()
	if err != nil {
		return fmt.Errorf("spend: reconcile: %w", err)
	}
	var errs []error
	now := s.e.clock.Now()
	// Each lease's share of its account's days: a day the account served
	// another lease too (recycled) is split between them.
	sums, err := s.e.spendSummaries(ctx, from)
	if err != nil {
		return fmt.Errorf("spend: reconcile: %w", err)
	}
	split := ovm.SplitShared(bill, sums, now)
	for _, l := range active {
		lease := split[l.ID]
		if len(lease) == 0 {
			continue
		}
		if _, err := s.apply(ctx, l, func(g *ovm.SpendLedger) ([]string, bool) {
			if g.Final {
				return nil, false
			}
			g.Report(now, lease)
			return nil, true
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// closeAndObserve ends the ledgers of leases that ended more than
// LateEvents ago, keeps the others' leases for their late events, and
// reports the open ledgers of active leases to the observer.
func (s *Spender) closeAndObserve(ctx context.Context, active []*ovm.Lease) (map[string]*ovm.SpendSummary, error) {
	open, err := s.e.store.SpendListOpen(ctx, 10000)
	if err != nil {
		return nil, err
	}
	sums := make(map[string]*ovm.SpendSummary, len(open))
	byID := make(map[string]*ovm.Lease, len(active))
	for _, l := range active {
		byID[l.ID] = l
	}
	now := s.e.clock.Now()
	spend, unpriced := map[[2]string]float64{}, map[string]int{}
	ending := map[string][]*ovm.Lease{}
	defer func() { s.ending = ending }()
	var estErr float64
	var errs []error
	for _, sum := range open {
		l := byID[sum.LeaseID] // the round's list: a read only for the others (ended, or vended since)
		if l == nil {
			if l, err = s.e.store.LeaseGet(ctx, sum.LeaseID); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if l.State != ovm.LeaseActive {
			if now.Sub(l.EndedAt) < s.cfg.LateEvents { // its late events still count
				ending[l.AWSAccountID] = append(ending[l.AWSAccountID], l)
				continue
			}
			if _, err := s.apply(ctx, l, func(g *ovm.SpendLedger) ([]string, bool) {
				if g.Final {
					return nil, false // closed meanwhile (the open list is an index, maybe behind)
				}
				g.End(l.EndedAt)
				return nil, true
			}); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		sums[l.ID] = sum
		daily, _ := sum.At(now)
		for _, usd := range daily {
			spend[[2]string{sum.Pool, sum.Template}] += usd
		}
		unpriced[sum.Pool] += sum.UnpricedRunning
		estErr += sum.EstimateError
	}
	s.cfg.Observer.Ledgers(spend, unpriced, estErr)
	return sums, errors.Join(errs...)
}
