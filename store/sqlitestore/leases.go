package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ovmdev/ovm"
)

// insertLease stores new lease l.
func insertLease(ctx context.Context, tx *sql.Tx, l *ovm.Lease) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO leases (id, account_id, pool, owner, state, version, expires_at, template, team, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		l.ID, l.AccountID, l.Pool, l.Owner, l.State, l.Version, ns(l.ExpiresAt), l.Template, l.Team, encode(l))
	if isConstraint(err) {
		return fmt.Errorf("lease %s: id taken or account %s already leased: %w", l.ID, l.AccountID, ovm.ErrConflict)
	}
	return err
}

// endedAt is the ended_at column of lease l: its end, or NULL while active.
func endedAt(l *ovm.Lease) any {
	if l.State != ovm.LeaseEnded {
		return nil
	}
	return ns(l.EndedAt)
}

func getLease(ctx context.Context, q querier, id string) (*ovm.Lease, error) {
	var data string
	err := q.QueryRowContext(ctx, `SELECT data FROM leases WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("lease %s: %w", id, ovm.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decodeLease(data)
}

func leaseEvent(l *ovm.Lease, actor, from, reason string, now time.Time) *ovm.Event {
	return &ovm.Event{Time: now, Kind: ovm.EventLease, AccountID: l.AccountID, LeaseID: l.ID, Pool: l.Pool,
		Actor: actor, From: from, To: string(l.State), Reason: reason}
}

// LeaseCreate implements ovm.Store. Concurrent vends are committed
// together (group commit): one transaction and one fsync for all the vends
// waiting at that moment, each in its own savepoint, so one that fails
// (empty pool, either lease limit) leaves the others alone. See vendBatches.
func (s *Store) LeaseCreate(ctx context.Context, p *ovm.LeaseCreateParams) (*ovm.Lease, error) {
	req := &vendReq{p: p, done: make(chan struct{})}
	select {
	case s.vends <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closed:
		return nil, errors.New("sqlitestore: closed")
	}
	// Once queued the vend is decided by the batch: waiting for it, even
	// past ctx, tells the caller the truth (a lease made for a caller that
	// left expires like any other).
	<-req.done
	return req.lease, req.err
}

// vendReq is one vend waiting for its batch.
type vendReq struct {
	p     *ovm.LeaseCreateParams
	lease *ovm.Lease
	err   error
	done  chan struct{}
}

// maxBatch bounds the vends of one transaction.
const maxBatch = 64

// vendBatches runs until the store closes: it takes the waiting vends,
// runs them in one transaction, and answers each.
func (s *Store) vendBatches() {
	defer close(s.batcherDone)
	for {
		var batch []*vendReq
		select {
		case r := <-s.vends:
			batch = append(batch, r)
		case <-s.closed:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.vends:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.vendBatch(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

func (s *Store) vendBatch(batch []*vendReq) {
	ctx := context.Background() // one caller's cancel must not undo the others' vends
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for i, r := range batch {
			sp := fmt.Sprintf("vend%d", i)
			if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
				return err
			}
			r.lease, r.err = vendOne(ctx, tx, r.p)
			end := "RELEASE " + sp
			if r.err != nil {
				end = "ROLLBACK TO " + sp + "; RELEASE " + sp
			}
			if _, err := tx.ExecContext(ctx, end); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil { // nothing was committed
		for _, r := range batch {
			r.lease, r.err = nil, err
		}
	}
}

// vendOne vends one account inside tx. The limits are checked in the
// same transaction as the vend (SQLite has one writer), so they are exact;
// a refused vend has written nothing and its savepoint rolls back alone.
func vendOne(ctx context.Context, tx *sql.Tx, p *ovm.LeaseCreateParams) (*ovm.Lease, error) {
	if p.IdempotencyKey != "" {
		// The first vend with the key, if young enough, is the answer.
		var id string
		var at int64
		err := tx.QueryRowContext(ctx, `SELECT lease_id, created_at FROM idempotency WHERE owner = ? AND key = ?`,
			p.Owner, p.IdempotencyKey).Scan(&id, &at)
		switch {
		case err == nil && fromNS(at).After(p.Now.Add(-ovm.IdempotencyWindow)):
			return getLease(ctx, tx, id)
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
	}
	if p.Refusal != nil {
		return nil, p.Refusal
	}
	l, err := vendNew(ctx, tx, p)
	if err != nil || p.IdempotencyKey == "" {
		return l, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO idempotency (owner, key, lease_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (owner, key) DO UPDATE SET lease_id = excluded.lease_id, created_at = excluded.created_at`,
		p.Owner, p.IdempotencyKey, l.ID, ns(p.Now))
	return l, err
}

// vendNew makes a new lease inside tx, within the limits.
func vendNew(ctx context.Context, tx *sql.Tx, p *ovm.LeaseCreateParams) (*ovm.Lease, error) {
	if p.OwnerLimit > 0 || p.PoolOwnerLimit > 0 || p.TemplateOwnerLimit > 0 {
		// The owner's active leases, all, in p.Pool and of p.Template: one
		// look at the partial index leases_owner_active.
		var all, inPool, ofTemplate int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(pool = ?), 0), COALESCE(SUM(template = ?), 0) FROM leases
			WHERE owner = ? AND state = 'active'`, p.Pool, p.Template, p.Owner).Scan(&all, &inPool, &ofTemplate); err != nil {
			return nil, err
		}
		if p.TemplateOwnerLimit > 0 && ofTemplate >= p.TemplateOwnerLimit {
			return nil, fmt.Errorf("%s holds %d active leases of template %s: %w", p.Owner, ofTemplate, p.Template, ovm.ErrTemplateLeaseLimit)
		}
		if p.PoolOwnerLimit > 0 && inPool >= p.PoolOwnerLimit {
			return nil, fmt.Errorf("%s holds %d active leases in pool %s: %w", p.Owner, inPool, p.Pool, ovm.ErrPoolLeaseLimit)
		}
		if p.OwnerLimit > 0 && all >= p.OwnerLimit {
			return nil, fmt.Errorf("%s holds %d active leases: %w", p.Owner, all, ovm.ErrLeaseLimit)
		}
	}
	if p.TeamLimit > 0 && p.Team != "" {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM leases WHERE template = ? AND team = ? AND state = 'active'`,
			p.Template, p.Team).Scan(&n); err != nil {
			return nil, err
		}
		if n >= p.TeamLimit {
			return nil, fmt.Errorf("team %s holds %d active leases of template %s: %w", p.Team, n, p.Template, ovm.ErrTeamLeaseLimit)
		}
	}
	var data string
	err := tx.QueryRowContext(ctx, `SELECT data FROM accounts WHERE pool = ? AND state = 'ready'
		ORDER BY state_changed_at, id LIMIT 1`, p.Pool).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("pool %s: %w", p.Pool, ovm.ErrEmpty)
	}
	if err != nil {
		return nil, err
	}
	a, err := decodeAccount(data)
	if err != nil {
		return nil, err
	}
	l := p.LeaseOf(a)
	u, err := ovm.LeaseAccount(a, l, p.Now)
	if err != nil {
		return nil, err
	}
	if err := applyUpdate(ctx, tx, u); err != nil {
		return nil, err
	}
	if err := insertLease(ctx, tx, l); err != nil {
		return nil, err
	}
	if err := insertEvent(ctx, tx, leaseEvent(l, ovm.OwnerActor(p.Owner), "", "vended "+a.AWSAccountID, p.Now)); err != nil {
		return nil, err
	}
	return l, nil
}

// LeaseGet implements ovm.Store.
func (s *Store) LeaseGet(ctx context.Context, id string) (*ovm.Lease, error) {
	return getLease(ctx, s.r, id)
}

// LeaseList implements ovm.Store.
func (s *Store) LeaseList(ctx context.Context, p *ovm.LeaseListParams) ([]*ovm.Lease, string, error) {
	return listPage(ctx, s, "leases", ovm.CursorLeases, p.PageParams, true,
		[][2]string{{"owner", p.Owner}, {"state", string(p.State)}, {"pool", p.Pool}, {"team", p.Team}, {"template", p.Template}},
		decodeLease, func(l *ovm.Lease) string { return l.ID })
}

// LeaseUpdate implements ovm.Store: the lease's compare-and-set (state,
// version and expiry in the UPDATE's WHERE clause), the account's, and
// their events are one transaction.
func (s *Store) LeaseUpdate(ctx context.Context, u *ovm.LeaseUpdate) (*ovm.Lease, error) {
	n := u.Lease
	if n.Version != u.ExpectVersion+1 {
		return nil, fmt.Errorf("sqlitestore: lease %s: update to version %d from %d", n.ID, n.Version, u.ExpectVersion)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		live, expired := int64(math.MinInt64), int64(math.MaxInt64)
		if !u.LiveAt.IsZero() {
			live = ns(u.LiveAt)
		}
		if !u.ExpiredAt.IsZero() {
			expired = ns(u.ExpiredAt)
		}
		res, err := tx.ExecContext(ctx, `UPDATE leases SET state = ?, version = ?, expires_at = ?, ended_at = ?, data = ?
			WHERE id = ? AND state = ? AND version = ? AND expires_at > ? AND expires_at <= ?`,
			n.State, n.Version, ns(n.ExpiresAt), endedAt(n), encode(n), n.ID, u.ExpectState, u.ExpectVersion, live, expired)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			cur, err := getLease(ctx, tx, n.ID)
			if err != nil {
				return err // ErrNotFound
			}
			return fmt.Errorf("lease %s is %s v%d expiring %s, not %s v%d as read: %w", n.ID, cur.State, cur.Version,
				cur.ExpiresAt.UTC().Format(time.RFC3339), u.ExpectState, u.ExpectVersion, ovm.ErrConflict)
		}
		if err := insertEvent(ctx, tx, u.Event); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, u.Also); err != nil {
			return err
		}
		if u.Account != nil {
			return applyUpdate(ctx, tx, u.Account)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return n.Clone(), nil
}

// LeaseListExpired implements ovm.Store.
func (s *Store) LeaseListExpired(ctx context.Context, now time.Time, limit int) ([]*ovm.Lease, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT data FROM leases WHERE state = 'active' AND expires_at <= ?
		ORDER BY expires_at LIMIT ?`, ns(now), max(limit, 1))
	if err != nil {
		return nil, err
	}
	return scanAll(rows, decodeLease)
}
