package ovm

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A budget bounds what one lease may spend (docs/budgets.md). A template
// (or a pool's own template) carries one; the lease keeps a copy from its
// vend (LeaseBudget), which an admin may change for that lease alone. The
// spend worker compares each lease's spend, projected ahead at its burn
// rate, with the budget's thresholds, and acts on each threshold once per
// limit: the act and its record are one compare-and-set on the lease, with
// its event and notification in the same write.

// BudgetAction is what a crossed threshold does.
type BudgetAction string

const (
	// BudgetNotify sends the lease.budget notification only.
	BudgetNotify BudgetAction = "notify"
	// BudgetFreeze freezes the lease: it stays held, but gives no access
	// until an admin unfreezes it (FreezeLease).
	BudgetFreeze BudgetAction = "freeze"
	// BudgetEnd ends the lease (end reason budget).
	BudgetEnd BudgetAction = "end"
)

// BudgetActions lists every action, mildest first.
var BudgetActions = []BudgetAction{BudgetNotify, BudgetFreeze, BudgetEnd}

// Threshold is a share of a budget's limit and what crossing it does.
type Threshold struct {
	// At is the share of the limit, in (0, 10]: 0.5 is "50%".
	At     float64      `json:"at"`
	Action BudgetAction `json:"action"`
}

// Percent is t.At as a percentage ("90%").
func (t Threshold) Percent() string {
	return strconv.FormatFloat(t.At*100, 'f', -1, 64) + "%"
}

// ParseShare reads a threshold's at: "90%" or a plain share ("0.9").
func ParseShare(s string) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a share of the limit (50%%, 0.5)", quoteStart(s))
	}
	if pct {
		v /= 100
	}
	return v, nil
}

// MaxBudgetUSD bounds a limit: past it a budget bounds nothing, and float
// sums stay exact to the cent. MinBudgetUSD is a cent: below it every
// threshold would act at once on nothing.
const (
	MaxBudgetUSD = 1_000_000
	MinBudgetUSD = 0.01
)

// MaxBudgetProject bounds how far ahead a budget projects.
const MaxBudgetProject = 7 * 24 * time.Hour

// Budget is a template's budget: a limit, how far ahead to project the
// spend, and the thresholds that act.
type Budget struct {
	LimitUSD float64 `json:"limit_usd"`
	// Project is how far ahead the spend is projected at the current burn
	// rate (never past the lease's expiry); 0 acts on spend so far.
	Project    time.Duration `json:"project,omitempty"`
	Thresholds []Threshold   `json:"thresholds"`
	// FreezeStop makes a freeze also stop what keeps billing where it can
	// (Freezer).
	FreezeStop bool `json:"freeze_stop,omitempty"`
	// LesseeMayLower lets the lessee ask for a lower limit at the vend.
	LesseeMayLower bool `json:"lessee_may_lower,omitempty"`
}

// Validate checks b and returns a *FieldError naming the first wrong key,
// relative to the budget (limit_usd, thresholds[1].at).
func (b *Budget) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case math.IsNaN(b.LimitUSD) || b.LimitUSD < MinBudgetUSD || b.LimitUSD > MaxBudgetUSD:
		return bad("limit_usd", "must be at least 0.01 and at most %d (USD)", MaxBudgetUSD)
	case b.Project < 0 || b.Project > MaxBudgetProject:
		return bad("project", "must be between 0 (act on spend so far) and %s", MaxBudgetProject)
	case len(b.Thresholds) == 0:
		return bad("thresholds", "lists no threshold: a budget acts at one at least ({at: \"100%%\", action: end})")
	case len(b.Thresholds) > 10:
		return bad("thresholds", "lists %d thresholds; at most 10", len(b.Thresholds))
	}
	seen := map[float64]bool{}
	for i, t := range b.Thresholds {
		key := fmt.Sprintf("thresholds[%d]", i)
		switch {
		case math.IsNaN(t.At) || t.At <= 0 || t.At > 10:
			return bad(key+".at", "must be more than 0%% and at most 1000%% of the limit")
		case seen[t.At]:
			return bad(key+".at", "%s is listed twice", t.Percent())
		case !slices.Contains(BudgetActions, t.Action):
			return bad(key+".action", "%q is not an action: notify, freeze or end", quoteStart(string(t.Action)))
		}
		seen[t.At] = true
	}
	if b.FreezeStop && !slices.ContainsFunc(b.Thresholds, func(t Threshold) bool { return t.Action == BudgetFreeze }) {
		return bad("freeze.stop", "is set, but no threshold freezes")
	}
	return nil
}

// Freezes reports whether a threshold of b freezes.
func (b *Budget) Freezes() bool {
	return b != nil && slices.ContainsFunc(b.Thresholds, func(t Threshold) bool { return t.Action == BudgetFreeze })
}

// LeaseBudget is a lease's budget: the template's as the vend found it
// (with the lessee's lower limit, if any), changed only by an admin
// (SetLeaseBudget), and the thresholds it has acted on.
type LeaseBudget struct {
	Budget
	// Acted lists each threshold acted on, at which limit: a threshold acts
	// once per limit (a raised limit arms it again).
	Acted []BudgetAct `json:"acted,omitempty"`
}

// BudgetAct is one threshold's act.
type BudgetAct struct {
	// ID is the act's own id (random): two writers acting on one
	// threshold from one read write two different leases, so a store that
	// resends a write whose answer was lost tells the winner from the
	// loser (the conformance suite's lost answers).
	ID           string       `json:"id,omitempty"`
	At           float64      `json:"at"`
	Action       BudgetAction `json:"action"`
	LimitUSD     float64      `json:"limit_usd"`
	Time         time.Time    `json:"time"`
	SpendUSD     float64      `json:"spend_usd"`
	ProjectedUSD float64      `json:"projected_usd"`
}

// Clone returns a deep copy of b (nil for nil).
func (b *LeaseBudget) Clone() *LeaseBudget {
	if b == nil {
		return nil
	}
	c := *b
	c.Thresholds = slices.Clone(b.Thresholds)
	c.Acted = slices.Clone(b.Acted)
	return &c
}

// LeaseBudgetOf is the budget a lease of a template with budget b starts
// with: b, or b with the lessee's lower limit (0: none asked). A higher
// limit, or a lower one b does not let the lessee ask, is refused.
func LeaseBudgetOf(b *Budget, limitUSD float64) (*LeaseBudget, error) {
	if limitUSD != 0 {
		switch {
		case b == nil:
			return nil, Errorf(EInvalid, "budget_usd: the template has no budget to lower")
		case !b.LesseeMayLower:
			return nil, Errorf(EInvalid, "budget_usd: the template's budget (%.2f USD) cannot be changed by its lessees", b.LimitUSD)
		case math.IsNaN(limitUSD) || limitUSD < MinBudgetUSD || limitUSD > b.LimitUSD:
			return nil, Errorf(EInvalid, "budget_usd: must be at least 0.01 and at most the template's %.2f USD", b.LimitUSD)
		}
	}
	if b == nil {
		return nil, nil
	}
	lb := &LeaseBudget{Budget: *b}
	lb.Thresholds = slices.Clone(b.Thresholds)
	if limitUSD != 0 {
		lb.LimitUSD = limitUSD
	}
	return lb, nil
}

// Projection is a lease's spend at now and what it will be after horizon
// at its current burn rate (never past until, the lease's expiry).
func Projection(s *SpendSummary, now time.Time, horizon time.Duration, until time.Time) (spend, projected float64) {
	if s == nil {
		return 0, 0
	}
	daily, _ := s.At(now)
	for _, usd := range daily {
		spend += usd
	}
	end := now.Add(horizon)
	if !until.IsZero() && until.Before(end) {
		end = until
	}
	projected = spend
	for _, b := range s.Burn {
		e := end
		if !b.Until.IsZero() && b.Until.Before(e) {
			e = b.Until
		}
		if e.After(now) {
			projected += b.USDPerHour * e.Sub(now).Hours()
		}
	}
	return spend, projected
}

// Due returns the thresholds of b that projected (USD) has reached and
// that have not acted at b's limit, lowest first. A freeze threshold is
// due again after an unfreeze while the spend is still past it: it acts
// only when it froze the lease (ActOnBudget).
func (b *LeaseBudget) Due(projected float64) []Threshold {
	if b == nil {
		return nil
	}
	var due []Threshold
	for _, t := range b.Thresholds {
		if projected+1e-9 < t.At*b.LimitUSD || b.acted(t) {
			continue
		}
		due = append(due, t)
	}
	slices.SortFunc(due, func(x, y Threshold) int { return cmpFloat(x.At, y.At) })
	return due
}

// PastFreeze returns a freeze threshold of b that projected (USD) has
// reached at b's limit, acted or not, and whether there is one: an unfreeze
// is refused while there is (the admin raises the limit first).
func (b *LeaseBudget) PastFreeze(projected float64) (Threshold, bool) {
	if b == nil {
		return Threshold{}, false
	}
	for _, t := range b.Thresholds {
		if t.Action == BudgetFreeze && projected+1e-9 >= t.At*b.LimitUSD {
			return t, true
		}
	}
	return Threshold{}, false
}

func (b *LeaseBudget) acted(t Threshold) bool {
	return slices.ContainsFunc(b.Acted, func(a BudgetAct) bool { return a.At == t.At && a.LimitUSD == b.LimitUSD })
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// ErrFrozen is the answer to what frozen lease l does not give: access,
// an extension.
func ErrFrozen(l *Lease) error {
	next := "an admin unfreezes it (ovm lease unfreeze)"
	if l.Frozen.Actor == ActorBudget {
		next = "an admin raises its budget (ovm lease budget) and unfreezes it (ovm lease unfreeze)"
	}
	return Errorf(EFrozen, "lease %s is frozen (%s): it gives no access until %s", l.ID, l.Frozen.Reason, next)
}

// LeaseFreeze records a lease's freeze: when, by whom, why.
type LeaseFreeze struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	// Stop: the freeze also stops what keeps billing (the budget's
	// freeze.stop).
	Stop bool `json:"stop,omitempty"`
}

// ActOnBudget records that lease l's budget acts at threshold t, with spend
// and projected (USD) as the spend worker read them: the act is appended
// to the budget, and the lease is frozen (freeze) or ended (end, with
// account a moved on per rp) in the same write, whose budget event is the
// lease.budget notification. An act already recorded at this limit is a
// conflict: a threshold acts once.
func ActOnBudget(l *Lease, a *Account, t Threshold, spend, projected float64, rp RetirePolicy, now time.Time) (*LeaseUpdate, error) {
	if l.Budget == nil {
		return nil, Errorf(EConflict, "lease %s has no budget", l.ID)
	}
	if l.Budget.acted(t) {
		return nil, Errorf(EConflict, "lease %s's budget threshold %s acted already at %.2f USD", l.ID, t.Percent(), l.Budget.LimitUSD)
	}
	if !slices.Contains(l.Budget.Thresholds, t) || projected+1e-9 < t.At*l.Budget.LimitUSD {
		// The limit changed since the spend was read (an admin's raise):
		// the threshold is not reached at the lease's limit.
		return nil, Errorf(EConflict, "lease %s's budget threshold %s is not reached at %.2f USD (projected %.2f USD)",
			l.ID, t.Percent(), l.Budget.LimitUSD, projected)
	}
	if l.State != LeaseActive {
		return nil, Errorf(EConflict, "lease %s has ended (%s)", l.ID, l.EndReason)
	}
	act := BudgetAct{ID: NewID("act", now), At: t.At, Action: t.Action, LimitUSD: l.Budget.LimitUSD, Time: now, SpendUSD: round2(spend),
		ProjectedUSD: round2(projected)}
	reason := fmt.Sprintf("budget %s of %.2f USD reached (spend %.2f USD, projected %.2f USD): %s",
		t.Percent(), l.Budget.LimitUSD, act.SpendUSD, act.ProjectedUSD, t.Action)
	from := l.Status()
	budgetEvent := &Event{Time: now, Kind: EventBudget, AccountID: l.AccountID, LeaseID: l.ID, Pool: l.Pool, Actor: ActorBudget,
		From: string(from), To: string(from), Reason: reason}
	record := func(n *Lease) { n.Budget = n.Budget.Clone(); n.Budget.Acted = append(n.Budget.Acted, act) }
	switch t.Action {
	case BudgetNotify:
	case BudgetFreeze:
		if l.Frozen != nil {
			// Frozen already (a lower threshold, an admin): nothing to act
			// on. Not recorded, so that an unfreeze of a lease still past
			// the threshold freezes it again.
			return nil, Errorf(EConflict, "lease %s is frozen already: its %s threshold has nothing to freeze", l.ID, t.Percent())
		}
		budgetEvent.To = string(LeaseFrozen)
		inner := record
		record = func(n *Lease) {
			inner(n)
			n.Frozen = &LeaseFreeze{At: now, Actor: ActorBudget, Reason: reason, Stop: l.Budget.FreezeStop}
		}
	case BudgetEnd:
		u, err := EndLease(l, a, LeaseBudgetEnded, rp, ActorBudget, now)
		if err != nil {
			return nil, err
		}
		record(u.Lease)
		u.Also = budgetEvent
		budgetEvent.To = string(u.Lease.State)
		return u, nil
	default:
		return nil, Errorf(EInvalid, "%q is not a budget action", t.Action)
	}
	u, err := leaseTransition(l, LeaseActive, ActorBudget, reason, now, record)
	if err != nil {
		return nil, err
	}
	u.Event = budgetEvent
	return u, nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// FreezeLease freezes active lease l (an admin's freeze, not a budget's):
// it stays held by its owner and gives no access until UnfreezeLease.
func FreezeLease(l *Lease, stop bool, actor, why string, now time.Time) (*LeaseUpdate, error) {
	switch {
	case l.State != LeaseActive:
		return nil, Errorf(EConflict, "lease %s has ended (%s)", l.ID, l.EndReason)
	case l.Frozen != nil:
		return nil, Errorf(EConflict, "lease %s is frozen already (since %s)", l.ID, l.Frozen.At.UTC().Format(time.RFC3339))
	}
	if why == "" {
		why = "by an admin"
	}
	u, err := leaseTransition(l, LeaseActive, actor, "frozen: "+why, now, func(n *Lease) {
		n.Frozen = &LeaseFreeze{At: now, Actor: actor, Reason: why, Stop: stop}
	})
	if err != nil {
		return nil, err
	}
	u.Event.To = string(LeaseFrozen)
	return u, nil
}

// UnfreezeLease gives frozen lease l its access back (an admin's act). Its
// budget's thresholds that acted stay acted at their limit: raise the
// limit first (SetLeaseBudget) or the lease stays over it.
func UnfreezeLease(l *Lease, actor string, now time.Time) (*LeaseUpdate, error) {
	switch {
	case l.State != LeaseActive:
		return nil, Errorf(EConflict, "lease %s has ended (%s)", l.ID, l.EndReason)
	case l.Frozen == nil:
		return nil, Errorf(EConflict, "lease %s is not frozen", l.ID)
	}
	u, err := leaseTransition(l, LeaseActive, actor, "unfrozen", now, func(n *Lease) { n.Frozen = nil })
	if err != nil {
		return nil, err
	}
	u.Event.From = string(LeaseFrozen)
	return u, nil
}

// SetLeaseBudget sets active lease l's budget limit to limitUSD (an
// admin's change; the event records the old and new limit). A lease
// without a budget gets one of the default thresholds (DefaultThresholds).
func SetLeaseBudget(l *Lease, limitUSD float64, actor string, now time.Time) (*LeaseUpdate, error) {
	if l.State != LeaseActive {
		return nil, Errorf(EConflict, "lease %s has ended (%s)", l.ID, l.EndReason)
	}
	if math.IsNaN(limitUSD) || limitUSD < MinBudgetUSD || limitUSD > MaxBudgetUSD {
		return nil, Errorf(EInvalid, "budget_usd: must be at least 0.01 and at most %d", MaxBudgetUSD)
	}
	old := "none"
	if l.Budget != nil {
		old = fmt.Sprintf("%.2f USD", l.Budget.LimitUSD)
	}
	reason := fmt.Sprintf("budget limit changed from %s to %.2f USD", old, limitUSD)
	u, err := leaseTransition(l, LeaseActive, actor, reason, now, func(n *Lease) {
		if n.Budget == nil {
			n.Budget = &LeaseBudget{Budget: Budget{Thresholds: slices.Clone(DefaultThresholds)}}
		} else {
			n.Budget = n.Budget.Clone()
		}
		n.Budget.LimitUSD = limitUSD
	})
	if err != nil {
		return nil, err
	}
	s := string(l.Status())
	u.Event.From, u.Event.To = s, s
	u.LiveAt = now
	return u, nil
}

// DefaultThresholds are the thresholds of a budget an admin gives a lease
// that had none: notify at 80%, end at 100%.
var DefaultThresholds = []Threshold{{At: 0.8, Action: BudgetNotify}, {At: 1, Action: BudgetEnd}}

// Freezer is a provider that stops every access to a leased account while
// its lease is frozen, and gives it back (docs/budgets.md): sessions issued
// before the freeze are denied, the lease's own principal is no longer
// trusted, and on a member account an SCP denies everything but OVM's
// role. Both calls are idempotent.
type Freezer interface {
	// Freeze stops a's access as of f.At; with f.Stop, it also stops what
	// keeps billing where it can, and says what (the changes are applied
	// to the lease's spend ledger).
	Freeze(ctx context.Context, a *Account, f Freeze) (FreezeResult, error)
	// Unfreeze lifts the freeze: the SCP detached, f.Principal trusted
	// again (if any). Sessions issued before the freeze stay denied.
	Unfreeze(ctx context.Context, a *Account, f Freeze) error
}

// FreezeResult is what a freeze did: a report for the account's events,
// and the resources it stopped (SpendStop changes; f.Stop only).
type FreezeResult struct {
	Report  string
	Stopped []*SpendChange
}

// Freeze is what a Freezer puts on an account.
type Freeze struct {
	LeaseID   string
	At        time.Time
	Stop      bool
	Principal string
}

// ProgressFrozen, on an account's progress, holds the lease whose freeze
// may be on AWS: it is written before the Freezer is called, so that an
// account whose lease ends meanwhile has its freeze lifted after the
// revocation, before it is cleaned or closed. ProgressFrozenDone holds the
// lease whose freeze is known to be in place (the Freezer's Freeze
// succeeded). Both are cleared when the freeze is lifted (an unfreeze, or
// the lease's end).
const (
	ProgressFrozen     = "access.frozen"
	ProgressFrozenDone = "access.frozen_done"
)

// RecordFreezing records on leased account a that lease leaseID's freeze
// is about to be put on AWS.
func RecordFreezing(a *Account, leaseID string, now time.Time) (*AccountUpdate, error) {
	if a.State != AccountLeased || a.LeaseID != leaseID {
		return nil, Errorf(EConflict, "account %s is no longer leased by %s", a.ID, leaseID)
	}
	return transition(a, a.State, ActorBudget, "", now, func(n *Account) {
		if n.Progress == nil {
			n.Progress = map[string]string{}
		}
		n.Progress[ProgressFrozen] = leaseID
		delete(n.Progress, ProgressFrozenDone)
	})
}

// RecordFrozen records on leased account a that lease leaseID's freeze is
// in place (frozen) or lifted (!frozen).
func RecordFrozen(a *Account, leaseID string, frozen bool, report string, now time.Time) (*AccountUpdate, error) {
	if frozen && (a.State != AccountLeased || a.LeaseID != leaseID) {
		return nil, Errorf(EConflict, "account %s is no longer leased by %s", a.ID, leaseID)
	}
	what := "freeze of lease " + leaseID + " in place"
	if !frozen {
		what = "freeze of lease " + leaseID + " lifted"
	}
	if report != "" {
		what += ": " + report
	}
	return transition(a, a.State, ActorBudget, what, now, func(n *Account) {
		if n.Progress == nil {
			n.Progress = map[string]string{}
		}
		if frozen {
			n.Progress[ProgressFrozen], n.Progress[ProgressFrozenDone] = leaseID, leaseID
		} else {
			delete(n.Progress, ProgressFrozen)
			delete(n.Progress, ProgressFrozenDone)
		}
	})
}

// FrozenOn returns the lease whose freeze may be on a ("" for none).
func FrozenOn(a *Account) string { return a.Progress[ProgressFrozen] }

// FrozenDone returns the lease whose freeze is in place on a ("" for none).
func FrozenDone(a *Account) string { return a.Progress[ProgressFrozenDone] }
