package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

func writeLease(ctx context.Context, tx *sql.Tx, l *ovm.Lease, expectVersion int64) error {
	if expectVersion == 0 {
		_, err := tx.ExecContext(ctx, `INSERT INTO leases (id, account_id, pool, owner, state, version, expires_at, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			l.ID, l.AccountID, l.Pool, l.Owner, l.State, l.Version, ns(l.ExpiresAt), encode(l))
		if isConstraint(err) {
			return fmt.Errorf("lease %s: id taken or account %s already leased: %w", l.ID, l.AccountID, ovm.ErrConflict)
		}
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE leases SET state = ?, version = ?, expires_at = ?, data = ?
		WHERE id = ? AND version = ?`, l.State, l.Version, ns(l.ExpiresAt), encode(l), l.ID, expectVersion)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("lease %s changed concurrently: %w", l.ID, ovm.ErrConflict)
	}
	return nil
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
	if p.OwnerLimit > 0 || p.PoolOwnerLimit > 0 {
		// The owner's active leases, all and in p.Pool: one look at the
		// partial index leases_owner_active.
		var all, inPool int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(pool = ?), 0) FROM leases
			WHERE owner = ? AND state = 'active'`, p.Pool, p.Owner).Scan(&all, &inPool); err != nil {
			return nil, err
		}
		if p.PoolOwnerLimit > 0 && inPool >= p.PoolOwnerLimit {
			return nil, fmt.Errorf("%s holds %d active leases in pool %s: %w", p.Owner, inPool, p.Pool, ovm.ErrPoolLeaseLimit)
		}
		if p.OwnerLimit > 0 && all >= p.OwnerLimit {
			return nil, fmt.Errorf("%s holds %d active leases: %w", p.Owner, all, ovm.ErrLeaseLimit)
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
	if err := writeLease(ctx, tx, l, 0); err != nil {
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
		[][2]string{{"owner", p.Owner}, {"state", string(p.State)}, {"pool", p.Pool}},
		decodeLease, func(l *ovm.Lease) string { return l.ID })
}

// LeaseExtend implements ovm.Store: the version check and the write are
// one transaction.
func (s *Store) LeaseExtend(ctx context.Context, p *ovm.LeaseExtendParams) (*ovm.Lease, error) {
	var out *ovm.Lease
	err := s.tx(ctx, func(tx *sql.Tx) error {
		l, err := getLease(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if l.State != ovm.LeaseActive {
			return fmt.Errorf("lease %s is %s: %w", l.ID, l.State, ovm.ErrConflict)
		}
		if l.Version != p.Version {
			return fmt.Errorf("lease %s changed meanwhile (version %d, not %d); read it again: %w", l.ID, l.Version, p.Version, ovm.ErrConflict)
		}
		old := l.ExpiresAt
		l.ExpiresAt = p.ExpiresAt
		l.Version++
		if err := writeLease(ctx, tx, l, l.Version-1); err != nil {
			return err
		}
		out = l
		reason := fmt.Sprintf("extended from %s to %s", old.UTC().Format(time.RFC3339), p.ExpiresAt.UTC().Format(time.RFC3339))
		return insertEvent(ctx, tx, leaseEvent(l, p.Actor, string(l.State), reason, p.Now))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LeaseEnd implements ovm.Store.
func (s *Store) LeaseEnd(ctx context.Context, p *ovm.LeaseEndParams) (*ovm.Lease, error) {
	var out *ovm.Lease
	err := s.tx(ctx, func(tx *sql.Tx) error {
		l, err := getLease(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if l.State != ovm.LeaseActive {
			return fmt.Errorf("lease %s already ended (%s): %w", l.ID, l.EndReason, ovm.ErrConflict)
		}
		if !p.ExpiredBy.IsZero() && l.ExpiresAt.After(p.ExpiredBy) {
			return fmt.Errorf("lease %s now expires at %s: %w", l.ID, l.ExpiresAt.Format(time.RFC3339), ovm.ErrConflict)
		}
		l.State, l.EndReason, l.EndedAt = ovm.LeaseEnded, p.Reason, p.Now
		l.Version++
		if err := writeLease(ctx, tx, l, l.Version-1); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, leaseEvent(l, p.Actor, string(ovm.LeaseActive), string(p.Reason), p.Now)); err != nil {
			return err
		}
		a, err := getAccount(ctx, tx, l.AccountID)
		if err != nil {
			return err
		}
		u, err := ovm.EndAccountLease(a, l, p.Retire, p.Actor, p.Now)
		if err != nil {
			return fmt.Errorf("sqlitestore: %w", err)
		}
		out = l
		return applyUpdate(ctx, tx, u)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
