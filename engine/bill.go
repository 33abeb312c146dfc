package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ovmdev/ovm"
)

// billWindow is how far back the settlement looks for ended leases whose
// bill is not settled yet (a replica down longer leaves older ones
// unbilled: docs/budgets.md).
const billWindow = 30 * 24 * time.Hour // more than spend.settle's most, 14 days

// spendSummaries lists the summaries of leases that ran since from.
func (e *Engine) spendSummaries(ctx context.Context, from time.Time) ([]*ovm.SpendSummary, error) {
	p := &ovm.SpendListParams{From: from, To: e.clock.Now().Add(time.Second), PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}}
	var out []*ovm.SpendSummary
	for {
		page, next, err := e.store.SpendList(ctx, p)
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

// bill settles the bills of ended leases (ovm.SpendLedger.Settle): with
// Cost Explorer, their days as AWS billed them (a shared day split by
// ovm.SplitShared); each settled bill is recorded on its ledger and sent as
// lease.billed, once: the notification first (its id derives from the
// lease: a retry writes the same entry, and takes its figures), then the
// record.
func (s *Spender) bill(ctx context.Context) error {
	now := s.e.clock.Now()
	sums, err := s.e.spendSummaries(ctx, now.Add(-billWindow))
	if err != nil {
		return fmt.Errorf("spend: bill: %w", err)
	}
	var due []*ovm.SpendSummary
	accounts := map[string]bool{}
	from := now
	for _, sum := range sums {
		if sum.Final && sum.Billed == nil {
			due = append(due, sum)
			accounts[sum.AWSAccount] = true
			from = minT(from, sum.LeaseStart)
		}
	}
	if len(due) == 0 {
		return nil
	}
	var split map[string]map[string]float64
	var errs []error
	if s.cfg.Reporter != nil {
		ids := make([]string, 0, len(accounts))
		for a := range accounts {
			ids = append(ids, a)
		}
		slices.Sort(ids)
		rctx, cancel := context.WithTimeout(ctx, s.e.cfg.StepTimeout)
		bill, err := s.cfg.Reporter.DailyCost(rctx, ids, from.UTC().Truncate(24*time.Hour), now.UTC().Truncate(24*time.Hour).Add(24*time.Hour))
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("spend: bill: %w", err)) // settled by the estimate once spend.settle passed
		} else {
			split = ovm.SplitShared(bill, sums, now)
		}
	}
	for _, sum := range due {
		l := &ovm.Lease{ID: sum.LeaseID, AWSAccountID: sum.AWSAccount, Pool: sum.Pool, Template: sum.Template, Team: sum.Team,
			Owner: sum.Owner, CreatedAt: sum.LeaseStart}
		var settled *ovm.SpendBill
		if _, _, err := s.e.applySpend(ctx, l, func(g *ovm.SpendLedger) ([]string, bool) {
			if g.Billed != nil {
				return nil, false
			}
			changed := false
			if days := split[g.LeaseID]; len(days) > 0 {
				g.Report(now, days)
				changed = true
			}
			b := g.Settle(now, s.cfg.Settle)
			if b == nil {
				return nil, changed
			}
			s.e.crash("bill.before-notify")
			d := ovm.NewDelivery(ovm.BilledNotification(g, b), now)
			switch err := s.e.store.DeliveryAdd(ctx, d); {
			case errors.Is(err, ovm.ErrConflict): // sent by an earlier attempt: its figures are the bill
				if sent, gerr := s.e.store.DeliveryGet(ctx, d.ID); gerr == nil {
					if prev := ovm.BillOf(sent.Event); prev != nil {
						b = prev
					}
				}
			case err != nil:
				errs = append(errs, fmt.Errorf("spend: lease.billed of %s: %w", g.LeaseID, err))
				return nil, changed
			}
			s.e.crash("bill.after-notify")
			g.Billed, settled = b, b
			return nil, true
		}); err != nil {
			errs = append(errs, err)
		}
		if settled != nil {
			s.e.log.Info("lease billed", ovm.LogLeaseID, sum.LeaseID, "usd", settled.USD, "estimated_usd", settled.EstimatedUSD, "source", settled.Source)
			s.e.notifier.Kick()
		}
	}
	return errors.Join(errs...)
}

func minT(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
