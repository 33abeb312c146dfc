package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// CapsOf is every spend cap that applies to owner, or to one of teams, as
// it stands now: the period's spend (ended leases included) and when it
// resets.
func (e *Engine) CapsOf(ctx context.Context, owner string, teams []string) ([]ovm.CapStatus, error) {
	var out []ovm.CapStatus
	for _, c := range e.cfg.Vend.Caps {
		subjects := []string{}
		if s, ok := c.Subject(owner, ""); ok {
			subjects = append(subjects, s)
		}
		for _, t := range teams {
			if s, ok := c.Subject("", t); ok && c.Team != "" {
				subjects = append(subjects, s)
			}
		}
		for _, subject := range subjects {
			st, err := e.capStatus(ctx, c, subject)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// capStatus reads what subject spent in c's current period.
func (e *Engine) capStatus(ctx context.Context, c ovm.SpendCap, subject string) (ovm.CapStatus, error) {
	now := e.clock.Now()
	start, reset := c.Period(now)
	p := &ovm.SpendListParams{From: start, To: now.Add(time.Second), PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}}
	if c.Owner != "" {
		p.Owner = subject
	}
	var sums []*ovm.SpendSummary
	for {
		page, next, err := e.store.SpendList(ctx, p)
		if err != nil {
			return ovm.CapStatus{}, err
		}
		sums = append(sums, page...)
		if next == "" {
			break
		}
		p.Cursor = next
	}
	return ovm.CapStatus{Cap: c, Subject: subject, SpentUSD: ovm.CapSpent(c, subject, sums, start, now), From: start, ResetsAt: reset}, nil
}

// checkCaps refuses a vend by owner counting for team while a spend cap
// that applies is reached (429 naming the cap and when it resets).
func (e *Engine) checkCaps(ctx context.Context, owner, team string) error {
	for i, c := range e.cfg.Vend.Caps {
		subject, ok := c.Subject(owner, team)
		if !ok {
			continue
		}
		st, err := e.capStatus(ctx, c, subject)
		if err != nil {
			return err
		}
		if st.Reached() {
			return &ovm.Error{Code: ovm.ELimitExceeded, RetryAfter: max(st.ResetsAt.Sub(e.clock.Now()), time.Second),
				Message: fmt.Sprintf("%s (spend_caps[%d]) is reached: %s spent %.2f USD since %s; it resets at %s",
					c, i, subject, st.SpentUSD, st.From.Format(time.DateOnly), st.ResetsAt.Format(time.RFC3339))}
		}
	}
	return nil
}
