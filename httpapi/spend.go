package httpapi

import (
	"context"
	"encoding/csv"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// spendOf is lease l's spend as of now: all zero when nothing was
// measured; clipped at its end when its ledger is not closed yet. g is the
// ledger (nil: none yet).
func (s *Server) spendOf(ctx context.Context, l *ovm.Lease) (*ovm.LeaseSpend, *ovm.SpendLedger, error) {
	g, err := s.store.SpendGet(ctx, l.ID)
	if errors.Is(err, ovm.ErrNotFound) {
		return &ovm.LeaseSpend{Unpriced: []string{}}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if l.State == ovm.LeaseEnded && g.LeaseEnd.IsZero() {
		g.LeaseEnd = l.EndedAt
	}
	sum := g.Summarize(s.clock.Now())
	return &sum, g, nil
}

// leaseWithSpend is leaseDTO with the lease's spend, and its budget's
// projection as the spend worker computes it.
func (s *Server) leaseWithSpend(ctx context.Context, l *ovm.Lease) (client.Lease, error) {
	d := leaseDTO(l)
	sp, g, err := s.spendOf(ctx, l)
	d.Spend = sp
	if d.Budget != nil {
		d.Budget.ProjectedUSD = sp.USD
		if g != nil && l.State == ovm.LeaseActive {
			_, p := ovm.Projection(g.Summary(), s.clock.Now(), l.Budget.Project, l.ExpiresAt)
			d.Budget.ProjectedUSD = math.Round(p*100) / 100
		}
	}
	return d, err
}

// maxSpendWindow bounds a report's window: a year of days.
const maxSpendWindow = 366 * 24 * time.Hour

// spendReport answers GET /v1/spend: spend grouped by owner, team,
// template or pool over [from, to) (default the last 30 days), as JSON or,
// with Accept: text/csv, CSV. A user sees only their own leases.
func (s *Server) spendReport(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	by := ovm.SpendGroupBy(q.Get("group_by"))
	if by == "" {
		by = ovm.SpendByPool
	}
	switch by {
	case ovm.SpendByOwner, ovm.SpendByTeam, ovm.SpendByTemplate, ovm.SpendByPool:
	default:
		return ovm.Errorf(ovm.EInvalid, "group_by must be owner, team, template or pool")
	}
	now := s.clock.Now().UTC()
	to, err := reportTime(q.Get("to"), "to", now)
	if err != nil {
		return err
	}
	from, err := reportTime(q.Get("from"), "from", to.Add(-30*24*time.Hour))
	if err != nil {
		return err
	}
	if !from.Before(to) {
		return ovm.Errorf(ovm.EInvalid, "from must be before to")
	}
	if to.Sub(from) > maxSpendWindow {
		return ovm.Errorf(ovm.EInvalid, "a report covers at most 366 days")
	}
	var sums []*ovm.SpendSummary
	ends := map[string]time.Time{}
	params := &ovm.SpendListParams{PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}, From: from, To: to}
	if !p.admin() {
		params.Owner = p.Name // read in the store: a user's report costs their own leases only
	}
	for {
		page, next, err := s.store.SpendList(r.Context(), params)
		if err != nil {
			return err
		}
		for _, sm := range page {
			if !sm.Final && sm.LeaseEnd.IsZero() {
				if l, err := s.store.LeaseGet(r.Context(), sm.LeaseID); err == nil && l.State == ovm.LeaseEnded {
					ends[sm.LeaseID] = l.EndedAt
				}
			}
			sums = append(sums, sm)
		}
		if next == "" {
			break
		}
		params.Cursor = next
	}
	rep := client.SpendReport{GroupBy: by, From: from, To: to, AsOf: now, Groups: ovm.SpendReport(sums, ends, by, from, to, now)}
	if strings.Contains(r.Header.Get("Accept"), "text/csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		cw := csv.NewWriter(w)
		cw.Write([]string{string(by), "leases", "usd", "estimated_usd", "reported_usd", "billed_usd", "billed_leases", "unpriced"})
		for _, g := range rep.Groups {
			cw.Write([]string{csvSafe(g.Key), strconv.Itoa(g.Leases), usd(g.USD), usd(g.EstimatedUSD), usd(g.ReportedUSD), usd(g.BilledUSD),
				strconv.Itoa(g.BilledLeases), strings.Join(g.Unpriced, " ")})
		}
		cw.Flush()
		return cw.Error()
	}
	return writeJSON(w, http.StatusOK, rep)
}

func usd(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// csvSafe keeps a cell a spreadsheet would read as a formula (an owner's
// name is the lessee's to choose) from being one.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// reportTime reads an RFC 3339 time or a date (UTC midnight).
func reportTime(v, name string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, ovm.Errorf(ovm.EInvalid, "%s must be an RFC 3339 time or a date (2006-01-02)", name)
}
