package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// CloseLedgerAdd implements ovm.Store.
func (s *Store) CloseLedgerAdd(ctx context.Context, e *ovm.CloseEntry) error {
	if e.Ledger == "" || e.AWSAccountID == "" {
		return ovm.Errorf(ovm.EInvalid, "close ledger entry needs a ledger and an aws account id")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO close_ledger (ledger, aws_account_id, at, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (ledger, aws_account_id) DO NOTHING`, e.Ledger, e.AWSAccountID, ns(e.At), encode(e))
		return err
	})
}

// CloseLedgerList implements ovm.Store.
func (s *Store) CloseLedgerList(ctx context.Context, ledger string, since time.Time) ([]*ovm.CloseEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT data FROM close_ledger WHERE ledger = ? AND at >= ? ORDER BY at`, ledger, ns(since))
	if err != nil {
		return nil, err
	}
	return scanAll(rows, func(data string) (*ovm.CloseEntry, error) {
		var e ovm.CloseEntry
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return nil, fmt.Errorf("sqlitestore: decode close entry: %w", err)
		}
		return &e, nil
	})
}

// EventAppend implements ovm.Store.
func (s *Store) EventAppend(ctx context.Context, e *ovm.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertEvent(ctx, tx, e) })
}

// LeaderAcquire implements ovm.Store.
func (s *Store) LeaderAcquire(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	var held bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO leaders (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leaders.holder = excluded.holder OR leaders.expires_at <= ?`, name, holder, ns(until), ns(now))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		held = n == 1
		return nil
	})
	return held, err
}

// LeaderRelease implements ovm.Store.
func (s *Store) LeaderRelease(ctx context.Context, name, holder string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leaders WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
}
