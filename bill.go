package ovm

import (
	"maps"
	"math"
	"slices"
	"time"
)

// A lease's final bill (docs/budgets.md): after the lease ends, OVM waits
// until Cost Explorer has reported every UTC day of the lease, or until
// spend.settle has passed since its end, then records what the lease cost
// and sends lease.billed, once.

// BillSource says what a bill rests on.
const (
	BillCostExplorer = "cost_explorer" // every day of the lease as AWS billed it
	BillMixed        = "mixed"         // the days AWS billed by then, the estimate for the others
	BillEstimate     = "estimate"      // no day billed by then (no Cost Explorer): the estimate
)

// SpendBill is a lease's final bill.
type SpendBill struct {
	// USD is the bill: each day AWS billed as billed (its share of a shared
	// day), each other day as estimated.
	USD          float64            `json:"usd"`
	EstimatedUSD float64            `json:"estimated_usd"`
	Days         map[string]float64 `json:"days"`
	Source       string             `json:"source"`
	At           time.Time          `json:"at"`
}

// LeaseDays are the UTC days of g's lease, from its start to its end.
func (g *SpendLedger) LeaseDays() []string {
	end := g.LeaseEnd
	if end.IsZero() {
		return nil
	}
	var out []string
	for d := g.LeaseStart.UTC().Truncate(24 * time.Hour); !d.After(end.Add(-time.Nanosecond)) || len(out) == 0; d = d.Add(24 * time.Hour) {
		out = append(out, d.Format(time.DateOnly))
		if len(out) > 3700 {
			break // ten years: never a lease's
		}
	}
	return out
}

// Settle is g's final bill at now, or nil while it is not due: g's lease
// has ended and its ledger is closed (Final), and either every day of the
// lease is reported or settle has passed since its end. A bill already
// made is not made again.
func (g *SpendLedger) Settle(now time.Time, settle time.Duration) *SpendBill {
	if !g.Final || g.Billed != nil || g.LeaseEnd.IsZero() {
		return nil
	}
	days := g.LeaseDays()
	reported := 0
	for _, d := range days {
		if _, ok := g.Reported[d]; ok {
			reported++
		}
	}
	if reported < len(days) && now.Sub(g.LeaseEnd) < settle {
		return nil
	}
	est := g.estimateDaily(g.LeaseEnd)
	b := &SpendBill{Days: map[string]float64{}, At: now, Source: BillMixed}
	for _, d := range days {
		b.EstimatedUSD += est[d]
		if usd, ok := g.Reported[d]; ok {
			b.Days[d] = round2(usd)
		} else {
			b.Days[d] = round2(est[d])
		}
		b.USD += b.Days[d]
	}
	switch reported {
	case len(days):
		b.Source = BillCostExplorer
	case 0:
		b.Source = BillEstimate
	}
	b.USD, b.EstimatedUSD = round2(b.USD), round2(b.EstimatedUSD)
	return b
}

// SplitShared attributes what AWS billed each account by UTC day (bill, by
// AWS account id) to the leases of sums that ran on it that day: a day one
// lease had alone is its own; a shared day (a recycled account served two
// lessees) is split in the ratio of their estimates for the day, or, when
// none estimated anything, of their time on the account that day. Days no
// summary ran on are left out (the account's stock time, between leases).
func SplitShared(bill map[string]map[string]float64, sums []*SpendSummary, now time.Time) map[string]map[string]float64 {
	type share struct {
		lease     string
		est, time float64
	}
	byDay := map[[2]string][]share{}
	for _, s := range sums {
		if _, ok := bill[s.AWSAccount]; !ok {
			continue
		}
		_, est := s.At(now)
		end := s.LeaseEnd
		if end.IsZero() {
			end = now
		}
		for d := s.LeaseStart.UTC().Truncate(24 * time.Hour); d.Before(end); d = d.Add(24 * time.Hour) {
			day := d.Format(time.DateOnly)
			from, to := maxTime(d, s.LeaseStart), minTime(d.Add(24*time.Hour), end)
			byDay[[2]string{s.AWSAccount, day}] = append(byDay[[2]string{s.AWSAccount, day}],
				share{lease: s.LeaseID, est: est[day], time: to.Sub(from).Hours()})
		}
	}
	out := map[string]map[string]float64{}
	keys := slices.Collect(maps.Keys(byDay))
	slices.SortFunc(keys, func(a, b [2]string) int { return cmpString(a[0]+a[1], b[0]+b[1]) })
	for _, k := range keys {
		usd, ok := bill[k[0]][k[1]]
		if !ok {
			continue
		}
		shares := byDay[k]
		var est, tm float64
		for _, sh := range shares {
			est += sh.est
			tm += sh.time
		}
		for _, sh := range shares {
			part := 1.0 / float64(len(shares))
			switch {
			case est > 0:
				part = sh.est / est
			case tm > 0:
				part = sh.time / tm
			}
			if out[sh.lease] == nil {
				out[sh.lease] = map[string]float64{}
			}
			out[sh.lease][k[1]] = math.Round(usd*part*1e6) / 1e6
		}
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// BilledNotification is the lease.billed notification of ledger g's bill
// b. Its id derives from the lease, so every replica, and every retry
// after a crash, writes the same outbox entry (the store keeps the first).
func BilledNotification(g *SpendLedger, b *SpendBill) *Notification {
	return &Notification{ID: derivedID(g.LeaseEnd, "lease.billed/"+g.LeaseID), Type: NotifyLeaseBilled, Time: b.At, Pool: g.Pool,
		AWSAccountID: g.AWSAccountID, LeaseID: g.LeaseID, Owner: g.Owner,
		Bill: &BillNotice{USD: b.USD, EstimatedUSD: b.EstimatedUSD, Source: b.Source, Days: maps.Clone(b.Days)}}
}

// BillNotice is what lease.billed reports.
type BillNotice struct {
	USD          float64            `json:"usd"`
	EstimatedUSD float64            `json:"estimated_usd"`
	Source       string             `json:"source"`
	Days         map[string]float64 `json:"days"`
}

// BillOf reads the bill a lease.billed notification n reports back, for a
// retry that finds it sent already (its figures are the bill's).
func BillOf(n *Notification) *SpendBill {
	if n == nil || n.Bill == nil {
		return nil
	}
	return &SpendBill{USD: n.Bill.USD, EstimatedUSD: n.Bill.EstimatedUSD, Source: n.Bill.Source, Days: maps.Clone(n.Bill.Days), At: n.Time}
}
