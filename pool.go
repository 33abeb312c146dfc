package ovm

import (
	"fmt"
	"regexp"
	"time"
)

// DefaultRoleName is the vended cross-account role unless a pool names another.
const DefaultRoleName = "OVMCrossAccountRole"

// Pool is a named stock of accounts made by one provider under one policy.
type Pool struct {
	// Name identifies the pool in the API ("default" is used by GET /vend).
	Name string
	// Provider names the provider kind: sim, organizations or signup.
	Provider string
	// RoleName is the cross-account role vended to lessees. Default DefaultRoleName.
	RoleName string
	Stock    StockPolicy
	Lease    LeasePolicy
	Retire   RetirePolicy
	Retry    RetryPolicy
	// Budget is the budget of the pool's own template (nil: none).
	Budget *Budget
}

// StockPolicy tells the stock planner how many accounts to keep.
type StockPolicy struct {
	// Target is the number of ready accounts to keep (the config default is 3).
	Target int
	// Ceiling caps live (non-terminal) accounts of the pool (default 20).
	Ceiling int
	// MaxInFlight caps creations in progress at AWS, pending and creating
	// (default 5, the AWS limit). Bootstraps do not hold a slot: they are
	// bounded by the engine's parallelism. A paced pool (MinSpacing set)
	// counts its bootstraps too: one sign-up at a time, to the end.
	MaxInFlight int
	// MinSpacing is the least time between two creations (default 0).
	MinSpacing time.Duration
	// Auto, when set, makes the target follow demand within its bounds;
	// Target is then only the value until the first estimate.
	Auto *AutoTarget
}

// LeasePolicy bounds lease durations.
type LeasePolicy struct {
	DefaultTTL time.Duration `json:"default_ttl"` // default 24h
	MaxTTL     time.Duration `json:"max_ttl"`     // default 72h; a lease never outlives CreatedAt+MaxTTL
	MinTTL     time.Duration `json:"min_ttl"`     // default 1m
	// MaxPerOwner caps one owner's active leases in the pool (default half
	// the ceiling, at least 1: one key cannot hold a whole pool).
	MaxPerOwner int `json:"max_per_owner"`
	// Allowed says who may lease under the pool's own template, as a
	// template's allowed (default everyone); the pool's other templates
	// have their own.
	Allowed []string `json:"-"`
}

// RetireMode is what happens to an account after its lease ends.
type RetireMode string

const (
	// RetireClose closes the account (quota-aware).
	RetireClose RetireMode = "close"
	// RetireRecycle cleans the account and puts it back in stock.
	RetireRecycle RetireMode = "recycle"
)

// RetirePolicy says how leased accounts are retired.
type RetirePolicy struct {
	Mode RetireMode // default close
	// MaxGenerations is how often an account is recycled before it is
	// closed (recycle mode; 0 means no limit).
	MaxGenerations int
	// CleanTimeout bounds one cleaning pass; the cleaner kills it after
	// that (recycle mode; default 30m).
	CleanTimeout time.Duration
	// CleanPasses is how many successful passes in a row, the last finding
	// nothing, make an account clean (recycle mode; default 2).
	CleanPasses int
	// ClockMargin is how far OVM's and AWS's clocks may disagree
	// (DefaultClockMargin): a lease's revocation denies the sessions issued
	// before its end and the margin, and a recycled account is stock again
	// only the margin after that.
	ClockMargin time.Duration
}

// RetryPolicy bounds the retries of one lifecycle step.
type RetryPolicy struct {
	// MaxAttempts failed attempts quarantine the account (default 5).
	MaxAttempts int
	// BaseDelay is the first backoff (default 5s); it doubles per attempt.
	BaseDelay time.Duration
	// MaxDelay caps the backoff (default 5m).
	MaxDelay time.Duration
}

// WithDefaults returns p with every zero field set to its documented default.
func (p Pool) WithDefaults() Pool {
	if p.RoleName == "" {
		p.RoleName = DefaultRoleName
	}
	if a := p.Stock.Auto; a != nil {
		c := *a
		if c.HitRatio == 0 {
			c.HitRatio = 0.99
		}
		if c.Lookback == 0 {
			c.Lookback = 4 * Week
		}
		p.Stock.Auto = &c
	}
	if p.Stock.Ceiling == 0 {
		p.Stock.Ceiling = max(20, p.Stock.Target)
		if a := p.Stock.Auto; a != nil {
			p.Stock.Ceiling = max(p.Stock.Ceiling, a.Max)
		}
	}
	if a := p.Stock.Auto; a != nil && a.Max == 0 {
		a.Max = p.Stock.Ceiling
	}
	if p.Stock.MaxInFlight == 0 {
		p.Stock.MaxInFlight = 5
	}
	if p.Lease.MaxPerOwner == 0 {
		p.Lease.MaxPerOwner = max(1, p.Stock.Ceiling/2)
	}
	if p.Lease.DefaultTTL == 0 {
		p.Lease.DefaultTTL = 24 * time.Hour
	}
	if p.Lease.MaxTTL == 0 {
		p.Lease.MaxTTL = max(72*time.Hour, p.Lease.DefaultTTL)
	}
	if p.Lease.MinTTL == 0 {
		p.Lease.MinTTL = min(time.Minute, p.Lease.DefaultTTL)
	}
	if p.Retire.Mode == "" {
		p.Retire.Mode = RetireClose
	}
	if p.Retire.CleanTimeout == 0 {
		p.Retire.CleanTimeout = 30 * time.Minute
	}
	if p.Retire.CleanPasses == 0 {
		p.Retire.CleanPasses = 2
	}
	if p.Retire.ClockMargin == 0 {
		p.Retire.ClockMargin = DefaultClockMargin
	}
	if p.Retry.MaxAttempts == 0 {
		p.Retry.MaxAttempts = 5
	}
	if p.Retry.BaseDelay == 0 {
		p.Retry.BaseDelay = 5 * time.Second
	}
	if p.Retry.MaxDelay == 0 {
		p.Retry.MaxDelay = 5 * time.Minute
	}
	return p
}

var poolNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
var roleNameRe = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// FieldError names the configuration key (relative to the pool) that is wrong.
type FieldError struct {
	Field   string
	Message string
}

// Error implements error: "key: message".
func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks p (after WithDefaults) and returns a *FieldError naming the
// first wrong key.
func (p Pool) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case !poolNameRe.MatchString(p.Name):
		return bad("name", "%q must be 1-63 lowercase letters, digits, '-' or '_'", p.Name)
	case p.Provider == "":
		return bad("provider", "is required")
	case !roleNameRe.MatchString(p.RoleName):
		return bad("role_name", "%q is not a valid IAM role name", p.RoleName)
	case p.Stock.Target < 0:
		return bad("stock.target", "must not be negative")
	case p.Stock.Ceiling < p.Stock.Target:
		return bad("stock.ceiling", "must be at least stock.target (%d)", p.Stock.Target)
	case p.Stock.Auto != nil && p.Stock.Auto.Min < 0:
		return bad("stock.min", "must not be negative")
	case p.Stock.Auto != nil && p.Stock.Auto.Max < p.Stock.Auto.Min:
		return bad("stock.max", "must be at least stock.min (%d)", p.Stock.Auto.Min)
	case p.Stock.Auto != nil && p.Stock.Auto.Max > p.Stock.Ceiling:
		return bad("stock.max", "must be at most stock.ceiling (%d)", p.Stock.Ceiling)
	case p.Stock.Auto != nil && (p.Stock.Auto.HitRatio <= 0 || p.Stock.Auto.HitRatio > 1):
		return bad("stock.hit_ratio", "must be above 0 and at most 1 (0.99: 99 %% of vends served from stock)")
	case p.Stock.MaxInFlight < 1:
		return bad("stock.max_in_flight", "must be at least 1")
	case p.Stock.MinSpacing < 0:
		return bad("stock.min_spacing", "must not be negative")
	case p.Lease.validate() != nil:
		return p.Lease.validate()
	case p.Retire.Mode != RetireClose && p.Retire.Mode != RetireRecycle:
		return bad("retire.mode", "%q must be close or recycle", p.Retire.Mode)
	case p.Retire.MaxGenerations < 0:
		return bad("retire.max_generations", "must not be negative")
	case p.Retire.CleanTimeout < time.Second:
		return bad("retire.clean_timeout", "must be at least 1s")
	case p.Retire.CleanPasses < 1 || p.Retire.CleanPasses > 10:
		return bad("retire.clean_passes", "must be between 1 and 10")
	case p.Retire.ClockMargin < 0 || p.Retire.ClockMargin > 10*time.Minute:
		return bad("retire.clock_margin", "must be between 0s and 10m (default 1m: how far OVM's and AWS's clocks may disagree)")
	case p.Retry.MaxAttempts < 1:
		return bad("retry.max_attempts", "must be at least 1")
	case p.Retry.BaseDelay <= 0:
		return bad("retry.base_delay", "must be positive")
	case p.Retry.MaxDelay < p.Retry.BaseDelay:
		return bad("retry.max_delay", "must be at least retry.base_delay (%s)", p.Retry.BaseDelay)
	}
	if fe := checkAllowedList(p.Lease.Allowed); fe != nil {
		fe.Field = "lease." + fe.Field
		return fe
	}
	return nil
}

// LeaseTTL resolves a requested TTL (0 means the default) against the policy.
func (lp LeasePolicy) LeaseTTL(requested time.Duration) (time.Duration, error) {
	if requested == 0 {
		return lp.DefaultTTL, nil
	}
	if requested < lp.MinTTL || requested > lp.MaxTTL {
		return 0, Errorf(EInvalid, "ttl %s is out of range [%s, %s]", requested, lp.MinTTL, lp.MaxTTL)
	}
	return requested, nil
}

// CheckExtend validates a new expiry for lease l at now: in the future and
// no later than l.CreatedAt+MaxTTL.
func (lp LeasePolicy) CheckExtend(l *Lease, expiresAt, now time.Time) error {
	limit := l.CreatedAt.Add(lp.MaxTTL)
	switch {
	case l.State != LeaseActive:
		return Errorf(EConflict, "lease %s is %s", l.ID, l.State)
	case !expiresAt.After(now):
		return Errorf(EInvalid, "expires_at %s is not in the future", expiresAt.UTC().Format(time.RFC3339))
	case expiresAt.After(limit):
		return Errorf(EInvalid, "expires_at %s is beyond the pool's max_ttl %s (latest %s)",
			expiresAt.UTC().Format(time.RFC3339), lp.MaxTTL, limit.UTC().Format(time.RFC3339))
	}
	return nil
}

// RetireTarget is the state a leased or cleaned account goes to next under rp.
func (rp RetirePolicy) RetireTarget(a *Account) AccountState {
	if rp.Mode == RetireRecycle && (rp.MaxGenerations == 0 || a.Generation < rp.MaxGenerations) {
		return AccountCleaning
	}
	return AccountClosing
}

// validate checks lp's bounds, naming the wrong key (lease.*).
func (lp LeasePolicy) validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: "lease." + field, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case lp.MinTTL <= 0:
		return bad("min_ttl", "must be positive")
	case lp.DefaultTTL < lp.MinTTL:
		return bad("default_ttl", "must be at least lease.min_ttl (%s)", lp.MinTTL)
	case lp.MaxTTL < lp.DefaultTTL:
		return bad("max_ttl", "must be at least lease.default_ttl (%s)", lp.DefaultTTL)
	case lp.MaxPerOwner < 1:
		return bad("max_per_owner", "must be at least 1")
	}
	return nil
}
