package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
)

// SpendGet implements ovm.Store.
func (s *Store) SpendGet(ctx context.Context, leaseID string) (*ovm.SpendLedger, error) {
	var doc string
	err := s.r.QueryRowContext(ctx, `SELECT doc FROM spend_ledgers WHERE lease_id = ?`, leaseID).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("spend ledger of lease %s: %w", leaseID, ovm.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return ovm.DecodeSpendLedger([]byte(doc))
}

// SpendPut implements ovm.Store: a compare-and-set on the version.
func (s *Store) SpendPut(ctx context.Context, g *ovm.SpendLedger) error {
	doc, sum, err := g.Encode()
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if g.Version == 1 {
			res, err = tx.ExecContext(ctx, `INSERT INTO spend_ledgers (lease_id, owner, lease_start, lease_end, final, version, doc, summary)
				VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (lease_id) DO NOTHING`,
				g.LeaseID, g.Owner, ns(g.LeaseStart), endNS(g.LeaseEnd), g.Final, string(doc), string(sum))
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE spend_ledgers SET lease_end = ?, final = ?, version = ?, doc = ?, summary = ?
				WHERE lease_id = ? AND version = ?`, endNS(g.LeaseEnd), g.Final, g.Version, string(doc), string(sum), g.LeaseID, g.Version-1)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("spend ledger of lease %s changed since it was read: %w", g.LeaseID, ovm.ErrConflict)
		}
		return nil
	})
}

// spendCursorKey is a ledger's position in SpendList: its lease's start,
// then its lease id.
func spendCursorKey(g *ovm.SpendSummary) string {
	return fmt.Sprintf("%020d|%s", ns(g.LeaseStart), g.LeaseID)
}

// SpendList implements ovm.Store.
func (s *Store) SpendList(ctx context.Context, p *ovm.SpendListParams) ([]*ovm.SpendSummary, string, error) {
	q := `SELECT summary FROM spend_ledgers WHERE 1 = 1`
	var args []any
	if p.Owner != "" {
		q += ` AND owner = ?`
		args = append(args, p.Owner)
	}
	if p.Cursor != "" {
		after, err := ovm.DecodeCursor(ovm.CursorSpend, p.Cursor)
		start, id, ok := strings.Cut(after, "|")
		n, perr := strconv.ParseInt(start, 10, 64)
		if err != nil || !ok || perr != nil {
			return nil, "", ovm.Errorf(ovm.EInvalid, "invalid cursor: not a position in a spend list")
		}
		q += ` AND (lease_start > ? OR (lease_start = ? AND lease_id > ?))`
		args = append(args, n, n, id)
	}
	if !p.To.IsZero() {
		q += ` AND lease_start < ?`
		args = append(args, ns(p.To))
	}
	if !p.From.IsZero() {
		q += ` AND (lease_end = 0 OR lease_end > ?)`
		args = append(args, ns(p.From))
	}
	limit := p.EffectiveLimit()
	q += ` ORDER BY lease_start, lease_id LIMIT ?`
	args = append(args, limit+1)
	out, err := s.summaries(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	out, next := page(out, limit, ovm.CursorSpend, spendCursorKey)
	return out, next, nil
}

// SpendListOpen implements ovm.Store.
func (s *Store) SpendListOpen(ctx context.Context, limit int) ([]*ovm.SpendSummary, error) {
	return s.summaries(ctx, `SELECT summary FROM spend_ledgers WHERE final = 0 ORDER BY lease_start LIMIT ?`, limit)
}

// SpendPrune implements ovm.Store.
func (s *Store) SpendPrune(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM spend_ledgers WHERE lease_id IN
			(SELECT lease_id FROM spend_ledgers WHERE final = 1 AND lease_end < ? ORDER BY lease_end LIMIT ?)`, ns(cutoff), limit)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

func (s *Store) summaries(ctx context.Context, q string, args ...any) ([]*ovm.SpendSummary, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*ovm.SpendSummary
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		sum, err := ovm.DecodeSpendSummary([]byte(doc))
		if err != nil {
			return nil, err
		}
		out = append(out, sum)
	}
	return out, rows.Err()
}

// endNS is a lease end as stored: 0 while the lease is active.
func endNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
