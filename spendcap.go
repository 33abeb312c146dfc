package ovm

import (
	"fmt"
	"math"
	"time"
)

// A spend cap bounds what one owner, or one team, spends over a period,
// ended leases included (docs/budgets.md): a vend asked while the period's
// spend is at or past a cap that applies is refused (ELimitExceeded) until
// the period resets.

// CapPeriod is a cap's period, in UTC: a day, an ISO week (from Monday) or
// a calendar month.
type CapPeriod string

const (
	// CapDay is a UTC day.
	CapDay CapPeriod = "day"
	// CapWeek is an ISO week, from Monday 00:00 UTC.
	CapWeek CapPeriod = "week"
	// CapMonth is a calendar month, in UTC.
	CapMonth CapPeriod = "month"
)

// SpendCap is one cap: of each owner (Owner "*"), of one owner, of each
// team (Team "*") or of one team, per period.
type SpendCap struct {
	Owner string    `json:"owner,omitempty"`
	Team  string    `json:"team,omitempty"`
	Per   CapPeriod `json:"per"`
	USD   float64   `json:"usd"`
}

// Validate checks c and returns a *FieldError naming the wrong key.
func (c SpendCap) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case (c.Owner == "") == (c.Team == ""):
		return bad("owner", "give exactly one of owner (a name, or * for each owner) and team (a name, or * for each team)")
	case c.Team != "" && c.Team != "*" && CheckTeamName(c.Team) != nil:
		return bad("team", "%v", CheckTeamName(c.Team))
	case c.Owner != "" && (len(c.Owner) > 256 || !allowGlobRe.MatchString(c.Owner)):
		return bad("owner", "%q must be an owner's name (a key's name, an OIDC owner) or *", quoteStart(c.Owner))
	case c.Per != CapDay && c.Per != CapWeek && c.Per != CapMonth:
		return bad("per", "%q must be day, week or month (UTC)", quoteStart(string(c.Per)))
	case math.IsNaN(c.USD) || c.USD <= 0 || c.USD > MaxBudgetUSD:
		return bad("usd", "must be more than 0 and at most %d", MaxBudgetUSD)
	}
	return nil
}

// Period is the period of c that holds now: [start, reset).
func (c SpendCap) Period(now time.Time) (start, reset time.Time) {
	d := now.UTC().Truncate(24 * time.Hour)
	switch c.Per {
	case CapWeek:
		back := (int(d.Weekday()) + 6) % 7 // days since Monday
		start = d.AddDate(0, 0, -back)
		return start, start.AddDate(0, 0, 7)
	case CapMonth:
		start = time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	return d, d.AddDate(0, 0, 1)
}

// Subject is whom c bounds for a vend by owner counting for team: the
// owner's or the team's name, and whether c applies at all.
func (c SpendCap) Subject(owner, team string) (string, bool) {
	switch {
	case c.Owner == "*" || c.Owner != "" && c.Owner == owner:
		return owner, true
	case c.Team != "" && team != "" && (c.Team == "*" || c.Team == team):
		return team, true
	}
	return "", false
}

// Counts reports whether summary s is of c's subject.
func (c SpendCap) Counts(s *SpendSummary, subject string) bool {
	if c.Owner != "" {
		return s.Owner == subject
	}
	return s.Team == subject
}

// String names c in messages: "the spend cap of 500 USD a month of team platform".
func (c SpendCap) String() string {
	who := "each owner"
	switch {
	case c.Owner != "" && c.Owner != "*":
		who = "owner " + c.Owner
	case c.Team == "*":
		who = "each team"
	case c.Team != "":
		who = "team " + c.Team
	}
	return fmt.Sprintf("the spend cap of %.2f USD a %s of %s", c.USD, c.Per, who)
}

// CapStatus is a cap as it stands for one subject.
type CapStatus struct {
	Cap      SpendCap  `json:"cap"`
	Subject  string    `json:"subject"`
	SpentUSD float64   `json:"spent_usd"`
	From     time.Time `json:"from"`
	ResetsAt time.Time `json:"resets_at"`
}

// Reached reports whether the cap is reached: a vend is refused.
func (s CapStatus) Reached() bool { return s.SpentUSD+1e-9 >= s.Cap.USD }

// CapSpent is what summaries sums of subject spent from start to now
// (the UTC days from start on), for cap c.
func CapSpent(c SpendCap, subject string, sums []*SpendSummary, start, now time.Time) float64 {
	from := start.UTC().Format(time.DateOnly)
	total := 0.0
	for _, s := range sums {
		if !c.Counts(s, subject) {
			continue
		}
		daily, _ := s.At(now)
		for d, usd := range daily {
			if d >= from {
				total += usd
			}
		}
	}
	return math.Round(total*100) / 100
}
