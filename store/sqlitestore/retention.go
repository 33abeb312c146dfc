package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/ovmdev/ovm"
)

// MissAdd implements ovm.Store: one counter per pool, minute and owner.
func (s *Store) MissAdd(ctx context.Context, pool, owner string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO misses (pool, minute, owner, count) VALUES (?, ?, ?, 1)
			ON CONFLICT (pool, minute, owner) DO UPDATE SET count = count + 1`, pool, ns(ovm.MissMinute(at)), owner)
		return err
	})
}

// MissList implements ovm.Store.
func (s *Store) MissList(ctx context.Context, pool string, since time.Time) ([]*ovm.MissCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT minute, owner, count FROM misses WHERE pool = ? AND minute >= ?
		ORDER BY minute, owner`, pool, ns(ovm.MissMinute(since)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ovm.MissCount
	for rows.Next() {
		m := &ovm.MissCount{Pool: pool}
		var minute int64
		if err := rows.Scan(&minute, &m.Owner, &m.Count); err != nil {
			return nil, err
		}
		m.Minute = fromNS(minute)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Prune implements ovm.Store: each kind is one DELETE of the oldest rows
// on its time index, in one transaction.
func (s *Store) Prune(ctx context.Context, p *ovm.PruneParams) (*ovm.PruneCounts, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	out := &ovm.PruneCounts{}
	del := func(tx *sql.Tx, n *int, cutoff time.Time, query string) error {
		if cutoff.IsZero() {
			return nil
		}
		res, err := tx.ExecContext(ctx, query, ns(cutoff), limit)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		*n = int(k)
		return err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := del(tx, &out.Events, p.Events, `DELETE FROM events WHERE seq IN
			(SELECT seq FROM events WHERE time < ? ORDER BY time LIMIT ?)`); err != nil {
			return err
		}
		if err := del(tx, &out.Leases, p.Leases, `DELETE FROM leases WHERE id IN
			(SELECT id FROM leases WHERE state = 'ended' AND ended_at < ? ORDER BY ended_at LIMIT ?)`); err != nil {
			return err
		}
		if !p.Accounts.IsZero() {
			// An account goes with its events, once no lease refers to it.
			var ids []string
			rows, err := tx.QueryContext(ctx, `SELECT id FROM accounts a WHERE state IN ('closed', 'abandoned')
				AND state_changed_at < ? AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.account_id = a.id)
				ORDER BY state_changed_at LIMIT ?`, ns(p.Accounts), limit)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := tx.ExecContext(ctx, `DELETE FROM events WHERE account_id = ?`, id); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM accounts WHERE id = ?`, id); err != nil {
					return err
				}
			}
			out.Accounts = len(ids)
		}
		if err := del(tx, &out.Misses, p.Misses, `DELETE FROM misses WHERE rowid IN
			(SELECT rowid FROM misses WHERE minute < ? ORDER BY minute LIMIT ?)`); err != nil {
			return err
		}
		return del(tx, &out.IdempotencyKeys, p.IdempotencyKeys, `DELETE FROM idempotency WHERE rowid IN
			(SELECT rowid FROM idempotency WHERE created_at < ? ORDER BY created_at LIMIT ?)`)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
