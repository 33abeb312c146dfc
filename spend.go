package ovm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"time"
)

// Spend: what a lease costs (docs/spend.md). Sources (a queue of CloudTrail
// events, the inventory sweep, Cost Explorer) turn what AWS says into
// SpendChanges and reports; a lease's SpendLedger folds them, exactly once,
// into the priced resources that ran in its account; Summarize prices
// them over the lease's time. The rules live here, the stores only keep a
// ledger with a compare-and-set on its version.

// The spend forwarding in each account (docs/spend.md): the EventBridge
// rule that sends the lessee's priced calls to OVM's bus, and the role it
// sends them with, and, in a management account (outside OVM's
// organization's trail), the trail that logs its calls. Guardrails keep
// the lessee from changing them.
const (
	SpendForwardRule = "ovm-spend"
	SpendForwardRole = "ovm-spend-forwarder"
	SpendTrail       = "ovm-spend"
	// SpendTrailBucketPrefix starts the name of the trail's bucket; the
	// account id ends it.
	SpendTrailBucketPrefix = "ovm-spend-trail-"
)

// SpendAction is what happened to a priced resource.
type SpendAction string

const (
	// SpendStart: the resource runs (created, launched or started) from At.
	SpendStart SpendAction = "start"
	// SpendStop: it stopped running at At (an EC2 instance stopped); it
	// may start again.
	SpendStop SpendAction = "stop"
	// SpendDelete: it is gone at At (terminated, deleted).
	SpendDelete SpendAction = "delete"
	// SpendModify: from At it runs at a new size and price (a running
	// resource's type changed).
	SpendModify SpendAction = "modify"
)

// SpendChange is one change of one priced resource, from one source event.
type SpendChange struct {
	// EventID is the source's id of the event (CloudTrail's eventID): a
	// ledger applies one event's changes once.
	EventID string    `json:"event_id"`
	At      time.Time `json:"at"`
	Action  SpendAction
	// Type is the kind of resource (ec2.instance, ebs.volume, ...), ID
	// AWS's id of it, Size what prices it (an instance type, a volume
	// type and size).
	Type   string `json:"type"`
	Region string `json:"region"`
	ID     string `json:"id"`
	Size   string `json:"size,omitempty"`
	// USDPerHour is its price while it runs; Unpriced says the price table
	// has none (the resource counts as unpriced, never as free).
	USDPerHour float64 `json:"usd_per_hour"`
	Unpriced   bool    `json:"unpriced,omitempty"`
	// Until, when set, is when a started resource stops by itself (a
	// training job's longest run).
	Until time.Time `json:"until,omitzero"`
}

// SpendKey is the ledger's key of a resource.
func SpendKey(typ, region, id string) string { return typ + "/" + region + "/" + id }

// SpendResource is one priced resource of a lease's account.
type SpendResource struct {
	Key        string  `json:"key"`
	Type       string  `json:"type"`
	Region     string  `json:"region"`
	ID         string  `json:"id"`
	Size       string  `json:"size,omitempty"`
	USDPerHour float64 `json:"usd_per_hour"`
	Unpriced   bool    `json:"unpriced,omitempty"`
	// StartedAt is when it first ran within the lease; StoppedAt when it
	// last stopped (zero while it runs); Deleted says it is gone.
	StartedAt time.Time `json:"started_at"`
	StoppedAt time.Time `json:"stopped_at,omitzero"`
	Deleted   bool      `json:"deleted,omitempty"`
	// RunningSince opens the interval it runs in now (zero when stopped).
	RunningSince time.Time `json:"running_since,omitzero"`
	// Daily holds what its closed intervals cost, by UTC day (2006-01-02).
	Daily map[string]float64 `json:"daily,omitempty"`
	// Until, when set, ends its running by itself.
	Until time.Time `json:"until,omitzero"`
	// ChangedAt is the time of the latest change applied: an older one
	// (queues do not keep order) is ignored.
	ChangedAt time.Time `json:"changed_at,omitzero"`
	// Source is what last changed it: event or sweep.
	Source string `json:"source"`
}

// Running reports whether r runs (since RunningSince, until Until if set).
func (r *SpendResource) Running() bool { return !r.RunningSince.IsZero() }

// runEnd is when r's running interval ends, at the latest end.
func (r *SpendResource) runEnd(end time.Time) time.Time {
	if !r.Until.IsZero() && r.Until.Before(end) {
		return r.Until
	}
	return end
}

// SpendLimits bound one ledger: a lessee who makes millions of resources
// or events must not grow it without bound (a DynamoDB item is at most
// 400 KB). Resources beyond MaxSpendResources are counted in Overflow and
// make the lease's spend "unpriced" (never free); MaxSpendSeen event ids
// are remembered for exactly-once, the oldest forgotten first.
const (
	MaxSpendResources = 400
	MaxSpendSeen      = 3000
)

// SpendLedger is what a lease's account ran, priced: the ledger a store
// keeps per lease, written with a compare-and-set on Version.
type SpendLedger struct {
	LeaseID      string `json:"lease_id"`
	AWSAccountID string `json:"aws_account_id"`
	Pool         string `json:"pool"`
	Template     string `json:"template,omitempty"`
	Team         string `json:"team,omitempty"`
	Owner        string `json:"owner"`
	// LeaseStart and LeaseEnd bound what counts (LeaseEnd zero while the
	// lease is active). Final says the lease has ended and the ledger
	// takes no more changes.
	LeaseStart time.Time        `json:"lease_start"`
	LeaseEnd   time.Time        `json:"lease_end,omitzero"`
	Final      bool             `json:"final,omitempty"`
	Resources  []*SpendResource `json:"resources,omitempty"`
	// Overflow counts resources refused beyond MaxSpendResources.
	Overflow int `json:"overflow,omitempty"`
	// Retired holds, by UTC day, what deleted resources cost once they
	// were folded out of Resources to make room.
	Retired map[string]float64 `json:"retired,omitempty"`
	// Reported is what AWS bills, by UTC day, for the days it has
	// reported (usage only: credits and refunds excluded); ReportedAt is
	// when it was read.
	Reported   map[string]float64 `json:"reported,omitempty"`
	ReportedAt time.Time          `json:"reported_at,omitzero"`
	// SweptAt is the last sweep of the account.
	SweptAt time.Time `json:"swept_at,omitzero"`
	// Billed is the lease's final bill, once settled (SpendLedger.Settle).
	Billed *SpendBill `json:"billed,omitempty"`
	// Seen holds hashes of the event ids applied, oldest first.
	Seen []string `json:"seen,omitempty"`
	// Errors are the latest failures of the lease's sources (an event
	// that could not be read, a region the sweep could not reach), newest
	// last, at most MaxSpendErrors.
	Errors []SpendError `json:"errors,omitempty"`
	// Spend is the summary as of the last write (Summarize).
	Spend     LeaseSpend `json:"spend"`
	Version   int64      `json:"version"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// MaxSpendErrors is how many source errors a ledger keeps.
const MaxSpendErrors = 10

// SpendError is one failure of a spend source for a lease.
type SpendError struct {
	At      time.Time `json:"at"`
	Source  string    `json:"source"`
	Message string    `json:"message"`
}

// LeaseSpend is a lease's spend, as the API shows it.
type LeaseSpend struct {
	// USD is the spend: for the days AWS has reported, the larger of the
	// estimate and the report; for the others, the estimate.
	USD          float64 `json:"usd"`
	EstimatedUSD float64 `json:"estimated_usd"`
	ReportedUSD  float64 `json:"reported_usd"`
	// BurnUSDPerHour is what the resources running now cost an hour.
	BurnUSDPerHour float64   `json:"burn_usd_per_hour"`
	AsOf           time.Time `json:"as_of,omitzero"`
	// Unpriced lists the types of resources running, or that ran, that
	// the price table cannot price ("overflow" for resources beyond the
	// ledger's bound): the spend is then a lower bound.
	Unpriced []string `json:"unpriced"`
	// Daily is the spend by UTC day.
	Daily map[string]float64 `json:"daily,omitempty"`
	// Errors are the latest failures of its sources (an event that could
	// not be read, a Region the sweep could not reach).
	Errors []SpendError `json:"errors,omitempty"`
	// Billed is the final bill of an ended lease, once settled.
	Billed *SpendBill `json:"billed,omitempty"`
}

// NewSpendLedger is the empty ledger of lease l.
func NewSpendLedger(l *Lease) *SpendLedger {
	return &SpendLedger{LeaseID: l.ID, AWSAccountID: l.AWSAccountID, Pool: l.Pool, Template: l.Template,
		Team: l.Team, Owner: l.Owner, LeaseStart: l.CreatedAt}
}

// Clone returns a deep copy of g.
func (g *SpendLedger) Clone() *SpendLedger {
	c := *g
	c.Resources = make([]*SpendResource, len(g.Resources))
	for i, r := range g.Resources {
		rc := *r
		rc.Daily = maps.Clone(r.Daily)
		c.Resources[i] = &rc
	}
	c.Reported = maps.Clone(g.Reported)
	c.Retired = maps.Clone(g.Retired)
	c.Seen = slices.Clone(g.Seen)
	c.Errors = slices.Clone(g.Errors)
	c.Spend.Unpriced = slices.Clone(g.Spend.Unpriced)
	c.Spend.Daily = maps.Clone(g.Spend.Daily)
	return &c
}

// spendEventHash is what Seen keeps of an event id: 16 hex digits of its
// SHA-256 (a collision among one lease's 3,000 latest events is beyond
// any practical chance).
func spendEventHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:8])
}

// HasSeen reports whether the event eventID has been applied.
func (g *SpendLedger) HasSeen(eventID string) bool {
	return slices.Contains(g.Seen, spendEventHash(eventID))
}

// MarkSeen records eventID as applied.
func (g *SpendLedger) MarkSeen(eventID string) {
	g.Seen = append(g.Seen, spendEventHash(eventID))
	if over := len(g.Seen) - MaxSpendSeen; over > 0 {
		g.Seen = slices.Delete(g.Seen, 0, over)
	}
}

// AddError records a source's failure.
func (g *SpendLedger) AddError(at time.Time, source, msg string) {
	g.Errors = append(g.Errors, SpendError{At: at, Source: source, Message: msg})
	if over := len(g.Errors) - MaxSpendErrors; over > 0 {
		g.Errors = slices.Delete(g.Errors, 0, over)
	}
}

func (g *SpendLedger) find(key string) *SpendResource {
	for _, r := range g.Resources {
		if r.Key == key {
			return r
		}
	}
	return nil
}

// Apply folds the changes of one event into g, once: an event already
// seen, or without changes, changes nothing and Apply returns false. A
// final ledger takes nothing. Changes before the lease's start count from
// its start; a change older than the latest one applied to its resource
// is ignored (a queue does not keep order).
func (g *SpendLedger) Apply(eventID string, changes []*SpendChange) bool {
	if g.Final || len(changes) == 0 || g.HasSeen(eventID) {
		return false
	}
	for _, c := range changes {
		g.change(c, "event")
	}
	g.MarkSeen(eventID)
	return true
}

// change applies c, from source.
func (g *SpendLedger) change(c *SpendChange, source string) {
	at := c.At
	if at.Before(g.LeaseStart) {
		at = g.LeaseStart
	}
	key := SpendKey(c.Type, c.Region, c.ID)
	r := g.find(key)
	if r != nil && at.Before(r.ChangedAt) {
		// Older than what is known of it. One case is exact: the start of
		// a resource whose stop or deletion came first, and that never ran
		// in the ledger: it ran from this start to that end.
		if c.Action == SpendStart && r.StartedAt.IsZero() && !r.StoppedAt.IsZero() && !r.Running() {
			r.Size, r.USDPerHour, r.Unpriced, r.StartedAt = c.Size, c.USDPerHour, c.Unpriced || c.Size == "", at
			if r.Daily == nil {
				r.Daily = map[string]float64{}
			}
			addDaily(r.Daily, at, r.StoppedAt, r.USDPerHour)
		}
		return
	}
	if r == nil {
		if len(g.Resources) >= MaxSpendResources {
			g.compact()
		}
		if len(g.Resources) >= MaxSpendResources {
			g.Overflow++
			return
		}
		r = &SpendResource{Key: key, Type: c.Type, Region: c.Region, ID: c.ID}
		g.Resources = append(g.Resources, r)
		sort.Slice(g.Resources, func(i, j int) bool { return g.Resources[i].Key < g.Resources[j].Key })
	}
	r.Source, r.ChangedAt = source, at
	switch c.Action {
	case SpendStart:
		if r.Running() {
			g.closeInterval(r, at)
		}
		r.Deleted = false // a name used again (an RDS instance, a cluster) after a deletion
		switch {
		case c.Size != "" || c.Unpriced:
			r.Size, r.USDPerHour, r.Unpriced = c.Size, c.USDPerHour, c.Unpriced
		case r.Size == "":
			// A start that names no size (StartInstances) of a resource
			// never seen: unpriced until a sweep sizes it, never free.
			r.Unpriced = true
		}
		r.RunningSince, r.StoppedAt, r.Until = at, time.Time{}, c.Until
		if r.StartedAt.IsZero() {
			r.StartedAt = at
		}
	case SpendModify:
		// A new size: a running resource runs at its new price from at, a
		// stopped one (an EC2 instance changes type only when stopped)
		// from its next start.
		if r.Running() {
			g.closeInterval(r, at)
			r.RunningSince = at
		}
		r.Size, r.USDPerHour, r.Unpriced = c.Size, c.USDPerHour, c.Unpriced
	case SpendStop, SpendDelete:
		// Of a resource never seen, this keeps its time, so that an older
		// start arriving after it counts only up to it.
		if r.Running() {
			g.closeInterval(r, at)
		}
		r.StoppedAt = at
		if c.Action == SpendDelete {
			r.Deleted = true
		}
	}
}

// compact folds deleted resources out of Resources, their cost kept in
// Retired, to make room.
func (g *SpendLedger) compact() {
	kept := g.Resources[:0]
	for _, r := range g.Resources {
		if !r.Deleted || r.Running() {
			kept = append(kept, r)
			continue
		}
		if g.Retired == nil {
			g.Retired = map[string]float64{}
		}
		for d, usd := range r.Daily {
			g.Retired[d] += usd
		}
	}
	clear(g.Resources[len(kept):])
	g.Resources = kept
}

// closeInterval ends r's running interval at end, adding its cost to
// r.Daily.
func (g *SpendLedger) closeInterval(r *SpendResource, end time.Time) {
	if end.Before(r.RunningSince) {
		end = r.RunningSince // a change older than the interval closes it empty
	}
	if r.Daily == nil {
		r.Daily = map[string]float64{}
	}
	addDaily(r.Daily, r.RunningSince, r.runEnd(end), r.USDPerHour)
	r.RunningSince = time.Time{}
}

// addDaily adds usdPerHour over [from, to) to daily, split by UTC day.
func addDaily(daily map[string]float64, from, to time.Time, usdPerHour float64) {
	for from.Before(to) {
		dayEnd := from.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		end := to
		if dayEnd.Before(end) {
			end = dayEnd
		}
		daily[from.UTC().Format(time.DateOnly)] += end.Sub(from).Hours() * usdPerHour
		from = end
	}
}

// SweptResource is a priced resource the sweep found in an account.
type SweptResource struct {
	Type, Region, ID, Size string
	Running                bool
	// Since is when it was launched, when AWS says (zero: unknown, the
	// sweep's time is used).
	Since      time.Time
	USDPerHour float64
	Unpriced   bool
}

// Sweep corrects g by what the sweep res, made at `at`, found. A running
// resource found that g does not know (a missed launch, one from before
// the lease) starts at its launch (or the lease's start, or at); one g
// thinks runs that was not found running stopped at `at`, but only when
// res covers its type in its Region: a Region the sweep did not reach, or
// a type it could not list there, is left as it is, so an unreachable
// Region or service never zeroes the spend.
func (g *SpendLedger) Sweep(at time.Time, res *SpendSweepResult) {
	if g.Final {
		return
	}
	running := map[string]bool{}
	for _, f := range res.Found {
		key := SpendKey(f.Type, f.Region, f.ID)
		if !f.Running {
			continue
		}
		running[key] = true
		if r := g.find(key); r != nil && r.Running() {
			if r.Size == "" && f.Size != "" { // a start seen without its size: priced from now on
				g.change(&SpendChange{At: at, Action: SpendModify, Type: f.Type, Region: f.Region, ID: f.ID, Size: f.Size,
					USDPerHour: f.USDPerHour, Unpriced: f.Unpriced}, "sweep")
			}
			continue
		}
		since := f.Since
		if since.IsZero() || since.After(at) {
			since = at
		}
		if r := g.find(key); r != nil && since.Before(r.ChangedAt) {
			since = at // started again after the latest change we know of: from now
		}
		g.change(&SpendChange{At: since, Action: SpendStart, Type: f.Type, Region: f.Region, ID: f.ID, Size: f.Size,
			USDPerHour: f.USDPerHour, Unpriced: f.Unpriced}, "sweep")
	}
	for _, r := range g.Resources {
		if r.Running() && !running[r.Key] && res.Covers(r.Type, r.Region) {
			g.change(&SpendChange{At: at, Action: SpendStop, Type: r.Type, Region: r.Region, ID: r.ID}, "sweep")
		}
	}
	g.SweptAt = at
}

// Report records what AWS billed, by UTC day (usage only), read at `at`.
func (g *SpendLedger) Report(at time.Time, daily map[string]float64) {
	if g.Reported == nil {
		g.Reported = map[string]float64{}
	}
	maps.Copy(g.Reported, daily)
	g.ReportedAt = at
}

// End marks the lease ended at `at`: running resources stop counting
// there and the ledger takes no more changes.
func (g *SpendLedger) End(at time.Time) {
	if g.Final {
		return
	}
	if at.Before(g.LeaseStart) {
		at = g.LeaseStart
	}
	g.LeaseEnd = at
	g.Spend = g.Summarize(at)
	g.Final = true
}

// Summarize prices g as of now (or its lease's end, when earlier).
func (g *SpendLedger) Summarize(now time.Time) LeaseSpend {
	if !g.LeaseEnd.IsZero() && g.LeaseEnd.Before(now) {
		now = g.LeaseEnd
	}
	est := g.estimateDaily(now)
	unpriced := map[string]bool{}
	var burn float64
	for _, r := range g.Resources {
		if r.Running() && g.LeaseEnd.IsZero() && r.runEnd(now).Equal(now) {
			burn += r.USDPerHour
		}
		if r.Unpriced {
			unpriced[r.Type] = true
		}
	}
	if g.Overflow > 0 {
		unpriced["overflow"] = true
	}
	s := LeaseSpend{AsOf: now, Daily: map[string]float64{}, BurnUSDPerHour: roundUSD(burn),
		Unpriced: slices.Sorted(maps.Keys(unpriced)), Errors: slices.Clone(g.Errors), Billed: g.Billed}
	if s.Unpriced == nil {
		s.Unpriced = []string{}
	}
	for d, usd := range est {
		s.EstimatedUSD += usd
		day := usd
		if rep, ok := g.Reported[d]; ok && rep > day {
			day = rep
		}
		s.Daily[d] = roundUSD(day)
	}
	for d, rep := range g.Reported {
		s.ReportedUSD += rep
		if _, ok := est[d]; !ok {
			s.Daily[d] = roundUSD(rep)
		}
	}
	for _, usd := range s.Daily {
		s.USD += usd
	}
	s.USD, s.EstimatedUSD, s.ReportedUSD = roundUSD(s.USD), roundUSD(s.EstimatedUSD), roundUSD(s.ReportedUSD)
	return s
}

// estimateDaily is the estimate by UTC day up to end (or the lease's end,
// when earlier).
func (g *SpendLedger) estimateDaily(end time.Time) map[string]float64 {
	if !g.LeaseEnd.IsZero() && g.LeaseEnd.Before(end) {
		end = g.LeaseEnd
	}
	est := maps.Clone(g.Retired)
	if est == nil {
		est = map[string]float64{}
	}
	for _, r := range g.Resources {
		for d, usd := range r.Daily {
			est[d] += usd
		}
		if r.Running() {
			addDaily(est, r.RunningSince, r.runEnd(end), r.USDPerHour)
		}
	}
	return est
}

// EstimateError is the estimate minus the report over the days AWS has
// reported (zero when none): how good the estimate is.
func (g *SpendLedger) EstimateError() (diff float64, days int) {
	est := g.estimateDaily(g.ReportedAt)
	for d, rep := range g.Reported {
		diff += est[d] - rep
		days++
	}
	return roundUSD(diff), days
}

// roundUSD rounds to a hundredth of a cent.
func roundUSD(v float64) float64 { return math.Round(v*10000) / 10000 }

// SpendListParams selects summaries for a report: those of leases that
// ran in [From, To) (zero: unbounded), of one Owner when set.
type SpendListParams struct {
	PageParams
	From, To time.Time
	Owner    string
}

// SpendStore is the part of a store that keeps spend ledgers. Both stores
// implement it (conformance suite store/storetest).
type SpendStore interface {
	// SpendGet returns lease's ledger, ErrNotFound when it has none.
	SpendGet(ctx context.Context, leaseID string) (*SpendLedger, error)
	// SpendPut writes g, and its Summary, when the stored ledger's
	// version is g.Version-1 (none stored when g.Version is 1); otherwise
	// ErrConflict and the ledger does not change.
	SpendPut(ctx context.Context, g *SpendLedger) error
	// SpendList lists the summaries of leases that ran in [From, To), by
	// lease start then lease id, without reading their ledgers.
	SpendList(ctx context.Context, p *SpendListParams) ([]*SpendSummary, string, error)
	// SpendListOpen lists the summaries of ledgers that are not final (their
	// lease was active, or had just ended, when last written), at most limit.
	SpendListOpen(ctx context.Context, limit int) ([]*SpendSummary, error)
	// SpendPrune deletes up to limit final ledgers (and summaries) whose
	// lease ended before cutoff; it returns how many.
	SpendPrune(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// SpendMessage is one message a spend source took from its queue: one
// event of a leased account, read.
type SpendMessage struct {
	// Handle acknowledges it (SpendSource.Ack).
	Handle string
	// EventID is the source's id of the event; AWSAccountID the account
	// it happened in; At when.
	EventID      string
	AWSAccountID string
	At           time.Time
	Changes      []*SpendChange
	// Err says the message could not be read (AWSAccountID may then be
	// empty): it is recorded on the lease and counted, never dropped in
	// silence.
	Err error
}

// SpendSource is where the lessee's events come from (spend/cloudtrail on a
// queue). A message is taken in at least once: until acknowledged, it
// comes again.
type SpendSource interface {
	// Receive returns the messages waiting, without waiting long.
	Receive(ctx context.Context) ([]*SpendMessage, error)
	// Ack deletes messages that were recorded.
	Ack(ctx context.Context, handles []string) error
}

// SpendSimulator is a spend source that makes the events itself (the
// simulated AWS): the spend worker tells it the active leases each round.
type SpendSimulator interface {
	Simulate(ctx context.Context, active []*Lease) error
}

// SpendSweeper is an optional Provider capability: it lists the priced
// resources in a leased account (Types, in the Regions it Reached) for
// the sweep. Errors name what it could not list; what it did list counts.
type SpendSweeper interface {
	SpendSweep(ctx context.Context, a *Account) (*SpendSweepResult, error)
}

// SpendSweepResult is what one sweep of an account found.
type SpendSweepResult struct {
	// Types are the resource types the sweep lists.
	Types []string
	// Reached are the Regions it listed.
	Reached []string
	// Skipped are, by Region reached, the types it could not list there
	// (access denied, the service not offered in that Region, an error).
	Skipped map[string][]string
	Found   []SweptResource
	// Errors name the Regions or types it could not list.
	Errors []string
}

// Covers reports whether r listed every resource of type typ in region:
// only then does one it did not find running count as stopped.
func (r *SpendSweepResult) Covers(typ, region string) bool {
	return slices.Contains(r.Types, typ) && slices.Contains(r.Reached, region) && !slices.Contains(r.Skipped[region], typ)
}

// CostReporter reads what AWS bills (Cost Explorer): usage cost by UTC
// day of each account in [from, to), credits and refunds excluded.
type CostReporter interface {
	DailyCost(ctx context.Context, awsAccountIDs []string, from, to time.Time) (map[string]map[string]float64, error)
}

// SpendGroupBy is what a spend report groups leases by.
type SpendGroupBy string

const (
	SpendByOwner    SpendGroupBy = "owner"    // the lessee
	SpendByTeam     SpendGroupBy = "team"     // the team the lease counts for
	SpendByTemplate SpendGroupBy = "template" // the template it was made under
	SpendByPool     SpendGroupBy = "pool"     // its pool
)

// SpendGroup is one line of a spend report: the spend of the group's
// leases on the UTC days in the report's window.
type SpendGroup struct {
	Key          string  `json:"key"`
	Leases       int     `json:"leases"`
	USD          float64 `json:"usd"`
	EstimatedUSD float64 `json:"estimated_usd"`
	ReportedUSD  float64 `json:"reported_usd"`
	// BilledUSD sums the final bills of the group's leases whose bill is
	// settled (BilledLeases of Leases), on their days in the window.
	BilledUSD    float64  `json:"billed_usd"`
	BilledLeases int      `json:"billed_leases"`
	Unpriced     []string `json:"unpriced"`
}

// SpendSummary is the small record of a ledger that reports and the
// worker's rounds read: a lease's estimate and bill by day as of its
// ledger's last write, and what ran then (which keeps running until the
// next write, or its end), so its spend at any later time is known
// without the ledger.
type SpendSummary struct {
	LeaseID    string    `json:"lease_id"`
	Pool       string    `json:"pool"`
	Template   string    `json:"template,omitempty"`
	Team       string    `json:"team,omitempty"`
	Owner      string    `json:"owner"`
	AWSAccount string    `json:"aws_account_id"`
	LeaseStart time.Time `json:"lease_start"`
	LeaseEnd   time.Time `json:"lease_end,omitzero"`
	Final      bool      `json:"final,omitempty"`
	// AsOf is the ledger's write.
	AsOf      time.Time          `json:"as_of"`
	Estimated map[string]float64 `json:"estimated,omitempty"`
	Reported  map[string]float64 `json:"reported,omitempty"`
	// Burn is what ran at AsOf, by when it stops by itself (zero: not).
	Burn     []SpendBurn `json:"burn,omitempty"`
	Unpriced []string    `json:"unpriced,omitempty"`
	// Unpriced running resources and overflow at AsOf (metrics).
	UnpricedRunning int     `json:"unpriced_running,omitempty"`
	EstimateError   float64 `json:"estimate_error,omitempty"`
	// Billed is the final bill, once settled.
	Billed *SpendBill `json:"billed,omitempty"`
}

// SpendBurn is a rate that runs until Until (zero: until stopped).
type SpendBurn struct {
	USDPerHour float64   `json:"usd_per_hour"`
	Until      time.Time `json:"until,omitzero"`
}

// Encode is what a store keeps of g: the ledger and its summary, as JSON.
func (g *SpendLedger) Encode() (ledger, summary []byte, err error) {
	if ledger, err = json.Marshal(g); err == nil {
		summary, err = json.Marshal(g.Summary())
	}
	return ledger, summary, err
}

// DecodeSpendLedger reads a ledger Encode wrote.
func DecodeSpendLedger(b []byte) (*SpendLedger, error) {
	var g SpendLedger
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("decode spend ledger: %w", err)
	}
	return &g, nil
}

// DecodeSpendSummary reads a summary Encode wrote.
func DecodeSpendSummary(b []byte) (*SpendSummary, error) {
	var s SpendSummary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode spend summary: %w", err)
	}
	return &s, nil
}

// Summary is g's summary as of its last write (UpdatedAt).
func (g *SpendLedger) Summary() *SpendSummary {
	at := g.UpdatedAt
	if at.Before(g.LeaseStart) {
		at = g.LeaseStart // never written by the worker (tests, imports): as of the lease's start
	}
	s := &SpendSummary{LeaseID: g.LeaseID, Pool: g.Pool, Template: g.Template, Team: g.Team, Owner: g.Owner, AWSAccount: g.AWSAccountID,
		LeaseStart: g.LeaseStart, LeaseEnd: g.LeaseEnd, Final: g.Final, AsOf: at, Estimated: g.estimateDaily(at),
		Reported: maps.Clone(g.Reported), Unpriced: g.Summarize(at).Unpriced, UnpricedRunning: g.Overflow, Billed: g.Billed}
	s.EstimateError, _ = g.EstimateError()
	burn := map[time.Time]float64{}
	for _, r := range g.Resources {
		if r.Running() && r.runEnd(at).Equal(at) {
			burn[r.Until] += r.USDPerHour
			if r.Unpriced {
				s.UnpricedRunning++
			}
		}
	}
	for until, usd := range burn {
		s.Burn = append(s.Burn, SpendBurn{USDPerHour: usd, Until: until})
	}
	sort.Slice(s.Burn, func(i, j int) bool { return s.Burn[i].Until.Before(s.Burn[j].Until) })
	return s
}

// At is the summary's estimate, bill and spend by UTC day at now (what
// ran at AsOf running on to now, its own end or the lease's end).
func (s *SpendSummary) At(now time.Time) (spend, estimated map[string]float64) {
	end := now
	if !s.LeaseEnd.IsZero() && s.LeaseEnd.Before(end) {
		end = s.LeaseEnd
	}
	estimated = maps.Clone(s.Estimated)
	if estimated == nil {
		estimated = map[string]float64{}
	}
	for _, b := range s.Burn {
		e := end
		if !b.Until.IsZero() && b.Until.Before(e) {
			e = b.Until
		}
		addDaily(estimated, s.AsOf, e, b.USDPerHour)
	}
	spend = maps.Clone(estimated)
	for d, rep := range s.Reported {
		if rep > spend[d] {
			spend[d] = rep
		}
	}
	return spend, estimated
}

// SpendReport groups summaries by by and sums their spend on the UTC days
// that start in [from, to), as of now; ends are the ends of leases whose
// summaries do not have them yet. Groups come largest spend first.
func SpendReport(sums []*SpendSummary, ends map[string]time.Time, by SpendGroupBy, from, to, now time.Time) []SpendGroup {
	groups := map[string]*SpendGroup{}
	unpriced := map[string]map[string]bool{}
	first := from.UTC().Truncate(24 * time.Hour)
	inWindow := func(day string) bool {
		d, err := time.Parse(time.DateOnly, day)
		return err == nil && !d.Before(first) && d.Before(to)
	}
	for _, sm := range sums {
		key := map[SpendGroupBy]string{SpendByOwner: sm.Owner, SpendByTeam: sm.Team, SpendByTemplate: sm.Template, SpendByPool: sm.Pool}[by]
		if end, ok := ends[sm.LeaseID]; ok && sm.LeaseEnd.IsZero() {
			c := *sm
			c.LeaseEnd = end
			sm = &c
		}
		spend, est := sm.At(now)
		grp := groups[key]
		if grp == nil {
			grp = &SpendGroup{Key: key}
			groups[key], unpriced[key] = grp, map[string]bool{}
		}
		grp.Leases++
		for day, usd := range spend {
			if inWindow(day) {
				grp.USD += usd
			}
		}
		for d, usd := range est {
			if inWindow(d) {
				grp.EstimatedUSD += usd
			}
		}
		for d, usd := range sm.Reported {
			if inWindow(d) {
				grp.ReportedUSD += usd
			}
		}
		if sm.Billed != nil {
			grp.BilledLeases++
			for d, usd := range sm.Billed.Days {
				if inWindow(d) {
					grp.BilledUSD += usd
				}
			}
		}
		for _, u := range sm.Unpriced {
			unpriced[key][u] = true
		}
	}
	out := make([]SpendGroup, 0, len(groups))
	for k, grp := range groups {
		grp.USD, grp.EstimatedUSD, grp.ReportedUSD = roundUSD(grp.USD), roundUSD(grp.EstimatedUSD), roundUSD(grp.ReportedUSD)
		grp.BilledUSD = roundUSD(grp.BilledUSD)
		grp.Unpriced = slices.Sorted(maps.Keys(unpriced[k]))
		if grp.Unpriced == nil {
			grp.Unpriced = []string{}
		}
		out = append(out, *grp)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].USD > out[j].USD || out[i].USD == out[j].USD && out[i].Key < out[j].Key
	})
	return out
}
