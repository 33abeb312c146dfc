package ovm

import (
	"context"
	"time"
)

// Store persists OVM's records. Every state change is a compare-and-set on
// (state, version) and appends its event in the same transaction. Methods
// return errors wrapping ErrNotFound, ErrConflict, ErrEmpty, ErrLeaseLimit
// or ErrPoolLeaseLimit as documented; any other error is internal.
// Implementations must pass the conformance suite in store/storetest.
type Store interface {
	SpendStore
	// AccountInsert stores a new pending account (Version 1) and its
	// "created" event. ErrConflict if the id, name or e-mail is taken.
	AccountInsert(ctx context.Context, a *Account, actor string) error
	// AccountGet returns the account with OVM id or 12-digit AWS id id.
	// ErrNotFound if none.
	AccountGet(ctx context.Context, id string) (*Account, error)
	// AccountUpdate applies a compare-and-set built by a transition
	// constructor and returns the stored record. ErrNotFound if the account
	// does not exist, ErrConflict if its state or version moved on.
	AccountUpdate(ctx context.Context, u *AccountUpdate) (*Account, error)
	// AccountList pages through accounts by id.
	AccountList(ctx context.Context, p *AccountListParams) ([]*Account, string, error)
	// AccountListDue returns up to p.Limit accounts in working states whose
	// DueAt is at or before p.Now, earliest first. Its cost is proportional
	// to the number of due accounts, not to the table.
	AccountListDue(ctx context.Context, p *AccountListDueParams) ([]*Account, error)

	// PoolCounts returns the number of the pool's accounts per live
	// (non-terminal) state, and when its newest account was created.
	PoolCounts(ctx context.Context, pool string) (*PoolCounts, error)
	// AccountCountSince counts the pool's accounts that entered state at or
	// after since (e.g. recently abandoned), in time proportional to them.
	AccountCountSince(ctx context.Context, pool string, state AccountState, since time.Time) (int, error)

	// LeaseCreate vends: it picks a ready account of p.Pool, moves it to
	// leased and creates the active lease, atomically. ErrEmpty if the pool
	// has no ready account. ErrPoolLeaseLimit if p.Owner already holds
	// p.PoolOwnerLimit active leases in p.Pool; otherwise ErrLeaseLimit if
	// it holds p.OwnerLimit active leases over all pools (0 means no limit,
	// for either). ErrPoolLeaseLimit wraps ErrLeaseLimit: errors.Is(err,
	// ErrLeaseLimit) holds for both limits, errors.Is(err,
	// ErrPoolLeaseLimit) only for the pool's. Both limits are exact under
	// concurrent vends: a refused vend changes nothing.
	//
	// With p.IdempotencyKey set, a vend is made once per owner and key
	// within IdempotencyWindow: when p.Owner's lease made with the key is
	// younger than that at p.Now, LeaseCreate makes nothing and returns that
	// lease (whose ID is not p.LeaseID), before any limit or stock check.
	// Concurrent vends with one key make one lease; one that cannot tell
	// yet whether another's was made returns ErrConflict (retry shortly).
	LeaseCreate(ctx context.Context, p *LeaseCreateParams) (*Lease, error)
	// LeaseGet returns one lease. ErrNotFound if none.
	LeaseGet(ctx context.Context, id string) (*Lease, error)
	// LeaseList pages through leases by id, newest first.
	LeaseList(ctx context.Context, p *LeaseListParams) ([]*Lease, string, error)
	// LeaseUpdate applies a compare-and-set built by a lease transition
	// constructor (ExtendLease, EndLease, RefuseLease): the lease, and its
	// account when u.Account is set, in one write with their events, and
	// returns the stored lease. ErrNotFound if there is no such lease,
	// ErrConflict if the lease's state, version or expiry (u.LiveAt,
	// u.ExpiredAt) or the account's state or version moved on.
	LeaseUpdate(ctx context.Context, u *LeaseUpdate) (*Lease, error)
	// LeaseListExpired returns up to limit active leases with ExpiresAt at
	// or before now, earliest first, in time proportional to the result.
	LeaseListExpired(ctx context.Context, now time.Time, limit int) ([]*Lease, error)

	// KeyCreate stores a new API key. ErrConflict if the name is taken.
	KeyCreate(ctx context.Context, k *APIKey) error
	// KeyGetByHash returns the key with that hash (revoked or not).
	// ErrNotFound if none.
	KeyGetByHash(ctx context.Context, hash string) (*APIKey, error)
	// KeyList pages through keys by id.
	KeyList(ctx context.Context, p *PageParams) ([]*APIKey, string, error)
	// KeyRevoke revokes a key. ErrNotFound if none; revoking twice is a no-op.
	KeyRevoke(ctx context.Context, id, actor string, now time.Time) (*APIKey, error)

	// CloseLedgerAdd records a closure request in ledger e.Ledger (one per
	// AWS organization, shared by its pools). Adding the same AWS account
	// to the same ledger again is a no-op that keeps the first time.
	CloseLedgerAdd(ctx context.Context, e *CloseEntry) error
	// CloseLedgerList returns the entries of ledger at or after since,
	// oldest first.
	CloseLedgerList(ctx context.Context, ledger string, since time.Time) ([]*CloseEntry, error)

	// LeaderAcquire takes or renews the leader lease name for holder until
	// until, if it is free, expired at now, or already holder's. It reports
	// whether holder holds it. Singleton loops (stock planner, drift) run
	// only on the holder.
	LeaderAcquire(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	// LeaderRelease gives the leader lease name back if holder holds it, so
	// another holder can take it at once instead of after its expiry (a
	// clean stop). It is a no-op if holder does not hold it.
	LeaderRelease(ctx context.Context, name, holder string) error

	// PoolSamplePut records sample s in its ring slot (SampleSlot of s.At),
	// replacing whatever the slot held.
	PoolSamplePut(ctx context.Context, s *PoolSample) error
	// PoolSampleList returns pool's samples at or after since, oldest
	// first (at most SampleSlots).
	PoolSampleList(ctx context.Context, pool string, since time.Time) ([]*PoolSample, error)

	// MissAdd counts one vend of pool by owner that the stock could not
	// serve, in the minute of at (MissMinute): a refused vend costs a
	// counter, not a record.
	MissAdd(ctx context.Context, pool, owner string, at time.Time) error
	// MissList returns pool's miss counts of the minutes at or after since,
	// oldest first (owners of one minute in any order).
	MissList(ctx context.Context, pool string, since time.Time) ([]*MissCount, error)

	// Prune deletes what the retention no longer keeps (PruneParams), up
	// to p.Limit records of each kind, oldest first, and says how many of
	// each it deleted. Its cost is proportional to what it deletes.
	Prune(ctx context.Context, p *PruneParams) (*PruneCounts, error)

	// EventAppend appends an event that is not part of a transition
	// (e.g. drift found between AWS and the store).
	EventAppend(ctx context.Context, e *Event) error
	// EventList pages through the events of one account, lease or pool,
	// oldest first or, with p.Newest, newest first; p.Kind filters. A
	// cursor is of the order it was made in.
	EventList(ctx context.Context, p *EventListParams) ([]*Event, string, error)

	// DeliveryAdd stores a new outbox entry (Version 1). Stores also add
	// one themselves, in the same write, for every event NotificationFor
	// maps to a notification. ErrConflict if an entry with d.ID exists
	// (the notification is already in the outbox).
	DeliveryAdd(ctx context.Context, d *Delivery) error
	// DeliveryGet returns one outbox entry. ErrNotFound if none.
	DeliveryGet(ctx context.Context, id string) (*Delivery, error)
	// DeliveryUpdate stores d if the stored entry's version is
	// d.Version-1 (a compare-and-set built by ClaimDelivery,
	// SettleDelivery or RetryDelivery) and returns it. ErrNotFound if there
	// is no entry d.ID, ErrConflict if its version moved on.
	DeliveryUpdate(ctx context.Context, d *Delivery) (*Delivery, error)
	// DeliveryListDue returns up to limit pending entries due at or before
	// now, earliest first, in time proportional to the result.
	DeliveryListDue(ctx context.Context, now time.Time, limit int) ([]*Delivery, error)
	// DeliveryList pages through outbox entries by id, newest first.
	DeliveryList(ctx context.Context, p *DeliveryListParams) ([]*Delivery, string, error)
	// DeliveryCount counts the entries in state, in time proportional to
	// them.
	DeliveryCount(ctx context.Context, state DeliveryState) (int, error)
	// DeliveryPrune deletes up to limit delivered entries whose id sorts
	// before cutoff (DeliveryIDBefore: their notification is older than a
	// time), oldest first, and returns how many it deleted. Pending and
	// failed entries are kept. Its cost is proportional to what it deletes.
	DeliveryPrune(ctx context.Context, cutoff string, limit int) (int, error)

	// Close releases the store's resources.
	Close() error
}

// Fencer is a store that may refuse every write because a newer OVM writes
// it (a rolling upgrade on DynamoDB): Fenced says why, or nil while it
// writes. The engine's loops pause while it is fenced, and /healthz says so.
type Fencer interface {
	Fenced() error
}

// Repairer is a store that can finish writes a crash left pending (a
// DynamoDB lease copy written after its account item, for example). It is an
// optional capability, found by type assertion: the engine's runner calls
// Repair every tick when the store has it. Repair returns how many pending
// writes it finished; it must cost nothing when there are none.
type Repairer interface {
	Repair(ctx context.Context) (int, error)
}

// PageParams selects one page of a list. Cursor is opaque (from the previous
// page); Limit defaults to 100 and is capped at 1000.
type PageParams struct {
	Limit  int
	Cursor string
}

// Page limits.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// EffectiveLimit returns the page size to use.
func (p *PageParams) EffectiveLimit() int {
	switch {
	case p == nil || p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// AccountListParams filters AccountList.
type AccountListParams struct {
	PageParams
	Pool  string       // optional
	State AccountState // optional
}

// AccountListDueParams selects due work.
type AccountListDueParams struct {
	Now   time.Time
	Limit int
}

// PoolCounts is a pool's live stock.
type PoolCounts struct {
	ByState map[AccountState]int
	// LastCreatedAt is the creation time of the pool's newest account.
	LastCreatedAt time.Time
}

// InFlight is the number of accounts on the way to stock.
func (c *PoolCounts) InFlight() int {
	return c.Creating() + c.ByState[AccountBootstrapping]
}

// Creating is the number of accounts whose creation is in progress at AWS
// (pending and creating): what AWS's limit of creations counts.
func (c *PoolCounts) Creating() int {
	return c.ByState[AccountPending] + c.ByState[AccountCreating]
}

// Live is the number of non-terminal accounts.
func (c *PoolCounts) Live() int {
	n := 0
	for s, k := range c.ByState {
		if !s.Terminal() {
			n += k
		}
	}
	return n
}

// ErrPoolLeaseLimit: the owner already holds the maximum of active leases
// in one pool (LeaseCreateParams.PoolOwnerLimit, a pool's
// lease.max_per_owner). It wraps ErrLeaseLimit, so a caller that knows only
// ErrLeaseLimit still sees a lease limit; one that tells the limits apart
// tests for ErrPoolLeaseLimit first.
var ErrPoolLeaseLimit = &Error{Code: ELimitExceeded, Message: "active lease limit reached in the pool",
	Err: ErrLeaseLimit, inMessage: true}

// ErrTemplateLeaseLimit: the owner already holds the maximum of active
// leases of one template (LeaseCreateParams.TemplateOwnerLimit). It wraps
// ErrLeaseLimit.
var ErrTemplateLeaseLimit = &Error{Code: ELimitExceeded, Message: "active lease limit reached for the template",
	Err: ErrLeaseLimit, inMessage: true}

// ErrTeamLeaseLimit: the owner's team already holds the maximum of active
// leases of one template (LeaseCreateParams.TeamLimit, a template's
// max_per_team). It wraps ErrLeaseLimit.
var ErrTeamLeaseLimit = &Error{Code: ELimitExceeded, Message: "active lease limit reached for the team",
	Err: ErrLeaseLimit, inMessage: true}

// LeaseCreateParams is one vend.
type LeaseCreateParams struct {
	LeaseID string
	Pool    string
	Owner   string
	Labels  map[string]string
	// Principal is the lease's own principal (CheckPrincipalARN), or "".
	Principal string
	Now       time.Time
	ExpiresAt time.Time
	// OwnerLimit caps Owner's active leases over all pools (0: no limit);
	// ErrLeaseLimit beyond it.
	OwnerLimit int
	// IdempotencyKey, when set, makes the vend once per Owner and key
	// (CheckIdempotencyKey; see Store.LeaseCreate).
	IdempotencyKey string
	// PoolOwnerLimit caps Owner's active leases in Pool (0: no limit);
	// ErrPoolLeaseLimit beyond it. When both limits are reached the pool's
	// is reported: releasing a lease of this pool frees a slot of both.
	PoolOwnerLimit int
	// Template names the template the lease is made under ("" for none,
	// as before templates); Terms are its terms, kept on the lease.
	Template string
	Terms    *LeaseTerms
	// TemplateOwnerLimit caps Owner's active leases of Template (0: no
	// limit); ErrTemplateLeaseLimit beyond it.
	TemplateOwnerLimit int
	// Team is the team the lease counts for ("" for none); TeamLimit caps
	// that team's active leases of Template (0: no limit);
	// ErrTeamLeaseLimit beyond it. Every limit is exact under concurrent
	// vends, and a vend refused by one takes nothing of the others.
	Team      string
	TeamLimit int
	// Budget is the lease's budget (nil: none), kept on the lease.
	Budget *LeaseBudget
	// Refusal, when set, makes no new lease: a vend with IdempotencyKey
	// that an earlier vend answered is answered with its lease as always
	// (a replay), any other gets Refusal back and changes nothing (a spend
	// cap reached after the first vend does not lose its lease).
	Refusal error
}

// LeaseOf is the new active lease of p on account a (a store then moves a
// to leased with LeaseAccount).
func (p *LeaseCreateParams) LeaseOf(a *Account) *Lease {
	return &Lease{ID: p.LeaseID, AccountID: a.ID, AWSAccountID: a.AWSAccountID, RoleARN: a.RoleARN,
		Pool: p.Pool, Owner: p.Owner, Labels: p.Labels, Principal: p.Principal, State: LeaseActive, Version: 1,
		CreatedAt: p.Now, ExpiresAt: p.ExpiresAt, Template: p.Template, Team: p.Team, Terms: p.Terms.Clone(),
		Budget: p.Budget.Clone()}
}

// LeaseListParams filters LeaseList.
type LeaseListParams struct {
	PageParams
	Owner    string     // optional
	State    LeaseState // optional
	Pool     string     // optional
	Team     string     // optional: the team leases count for
	Template string     // optional
}

// EventListParams selects events of one account (including its leases'
// events), one lease, or one pool.
type EventListParams struct {
	PageParams
	AccountID string
	LeaseID   string
	// Pool selects the pool's events that name no account (e.g. drift).
	Pool string
	// Kind, when set, selects the events of that kind only.
	Kind EventKind
	// Newest lists the newest first (a log's default for people: its end
	// cannot be hidden behind its beginning); oldest first otherwise.
	Newest bool
}

// CloseEntry is one closure request in a close ledger.
type CloseEntry struct {
	Ledger       string    `json:"ledger"`
	AWSAccountID string    `json:"aws_account_id"`
	AccountID    string    `json:"account_id,omitempty"` // OVM id, when known
	Pool         string    `json:"pool,omitempty"`
	At           time.Time `json:"at"`
}

// MissCount is how many vends of a pool by one owner the stock could not
// serve in one minute.
type MissCount struct {
	Pool   string    `json:"pool"`
	Owner  string    `json:"owner"`
	Minute time.Time `json:"minute"`
	Count  int       `json:"count"`
}

// MissMinute is the minute a miss at t is counted in.
func MissMinute(t time.Time) time.Time { return t.UTC().Truncate(time.Minute) }

// PruneParams are the retention's cutoffs: what is older is deleted. A zero
// cutoff deletes nothing of its kind.
type PruneParams struct {
	// Events before it are deleted (DynamoDB keeps a live account's last
	// events in its item: see docs/operations.md).
	Events time.Time
	// Leases that ended before it are deleted.
	Leases time.Time
	// Accounts closed or abandoned before it are deleted, with their
	// events, once they hold no lease the retention keeps.
	Accounts time.Time
	// Misses counted in minutes before it are deleted.
	Misses time.Time
	// IdempotencyKeys used before it are deleted.
	IdempotencyKeys time.Time
	// Limit bounds the records of each kind one call deletes (default 1000).
	Limit int
}

// PruneCounts says how many records of each kind a Prune deleted.
type PruneCounts struct {
	Events, Leases, Accounts, Misses, IdempotencyKeys int
}

// Total is the number of records deleted.
func (c *PruneCounts) Total() int {
	return c.Events + c.Leases + c.Accounts + c.Misses + c.IdempotencyKeys
}
