package engine

import (
	"context"
	"fmt"
	"sync"
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

// capCacheTTL is how long a cap's status is reused: a cap is read from the
// period's ledgers (a team's: every ledger of the period), and a flood of
// vends or GET /v1/me from one key reads them once per TTL, not once per
// request. A cap reached is seen at most this late.
const capCacheTTL = 10 * time.Second

// capCacheMax bounds the cached statuses (subjects are authenticated
// owners and teams; past it the cache starts again).
const capCacheMax = 10000

// capCache holds recent cap statuses by cap and subject.
type capCache struct {
	mu sync.Mutex
	m  map[string]ovm.CapStatus
	at map[string]time.Time
}

func (c *capCache) get(key string, now time.Time) (ovm.CapStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[key]
	if !ok || now.Sub(c.at[key]) >= capCacheTTL || now.Before(c.at[key]) {
		return ovm.CapStatus{}, false
	}
	return st, true
}

func (c *capCache) put(key string, st ovm.CapStatus, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= capCacheMax {
		c.m, c.at = map[string]ovm.CapStatus{}, map[string]time.Time{}
	}
	c.m[key], c.at[key] = st, now
}

// capStatus is what subject spent in c's current period, read from the
// store at most once per capCacheTTL.
func (e *Engine) capStatus(ctx context.Context, c ovm.SpendCap, subject string) (ovm.CapStatus, error) {
	now := e.clock.Now()
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%g\x00%s", c.Owner, c.Team, c.Per, c.USD, subject)
	if st, ok := e.caps.get(key, now); ok {
		return st, nil
	}
	st, err := e.readCapStatus(ctx, c, subject)
	if err == nil {
		e.caps.put(key, st, now)
	}
	return st, err
}

// readCapStatus reads what subject spent in c's current period.
func (e *Engine) readCapStatus(ctx context.Context, c ovm.SpendCap, subject string) (ovm.CapStatus, error) {
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
