package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

func decodeDelivery(data string) (*ovm.Delivery, error) {
	var d ovm.Delivery
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return nil, fmt.Errorf("sqlitestore: decode delivery: %w", err)
	}
	return &d, nil
}

func deliveryDue(d *ovm.Delivery) any {
	if t, ok := d.DueAt(); ok {
		return ns(t)
	}
	return nil
}

func insertDelivery(ctx context.Context, tx *sql.Tx, d *ovm.Delivery) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, state, version, due_at, data) VALUES (?, ?, ?, ?, ?)`,
		d.ID, d.State, d.Version, deliveryDue(d), encode(d))
	if isConstraint(err) {
		return fmt.Errorf("delivery %s is in the outbox: %w", d.ID, ovm.ErrConflict)
	}
	return err
}

// notify puts the notification event e reports, if any, in the outbox,
// inside the transaction that records e.
func notify(ctx context.Context, tx *sql.Tx, e *ovm.Event) error {
	if ovm.NotificationTypeOf(e) == "" {
		return nil
	}
	var a *ovm.Account
	var l *ovm.Lease
	var err error
	if e.AccountID != "" {
		if a, err = getAccount(ctx, tx, e.AccountID); err != nil {
			return err
		}
	}
	if e.LeaseID != "" {
		if l, err = getLease(ctx, tx, e.LeaseID); err != nil {
			return err
		}
	}
	return insertDelivery(ctx, tx, ovm.NewDelivery(ovm.NotificationFor(e, a, l), e.Time))
}

// DeliveryAdd implements ovm.Store.
func (s *Store) DeliveryAdd(ctx context.Context, d *ovm.Delivery) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertDelivery(ctx, tx, d) })
}

// DeliveryGet implements ovm.Store.
func (s *Store) DeliveryGet(ctx context.Context, id string) (*ovm.Delivery, error) {
	var data string
	err := s.r.QueryRowContext(ctx, `SELECT data FROM deliveries WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("delivery %s: %w", id, ovm.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decodeDelivery(data)
}

// DeliveryUpdate implements ovm.Store.
func (s *Store) DeliveryUpdate(ctx context.Context, d *ovm.Delivery) (*ovm.Delivery, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ?, version = ?, due_at = ?, data = ?
			WHERE id = ? AND version = ?`, d.State, d.Version, deliveryDue(d), encode(d), d.ID, d.Version-1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE id = ?`, d.ID).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return fmt.Errorf("delivery %s: %w", d.ID, ovm.ErrNotFound)
		}
		return fmt.Errorf("delivery %s is no longer v%d: %w", d.ID, d.Version-1, ovm.ErrConflict)
	})
	if err != nil {
		return nil, err
	}
	return d.Clone(), nil
}

// DeliveryListDue implements ovm.Store.
func (s *Store) DeliveryListDue(ctx context.Context, now time.Time, limit int) ([]*ovm.Delivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT data FROM deliveries WHERE due_at IS NOT NULL AND due_at <= ?
		ORDER BY due_at, id LIMIT ?`, ns(now), max(limit, 1))
	if err != nil {
		return nil, err
	}
	return scanAll(rows, decodeDelivery)
}

// DeliveryList implements ovm.Store.
func (s *Store) DeliveryList(ctx context.Context, p *ovm.DeliveryListParams) ([]*ovm.Delivery, string, error) {
	return listPage(ctx, s, "deliveries", ovm.CursorDeliveries, p.PageParams, true,
		[][2]string{{"state", string(p.State)}}, decodeDelivery, func(d *ovm.Delivery) string { return d.ID })
}

// DeliveryCount implements ovm.Store.
func (s *Store) DeliveryCount(ctx context.Context, state ovm.DeliveryState) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE state = ?`, state).Scan(&n)
	return n, err
}

// releaseDeliveryClaims makes the outbox entries a killed process had
// claimed due again from the time of their claim (see releaseClaims).
func releaseDeliveryClaims(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT data FROM deliveries WHERE due_at IS NOT NULL`)
	if err != nil {
		return err
	}
	ds, err := scanAll(rows, decodeDelivery)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.ClaimedBy == "" {
			continue
		}
		d.ClaimedBy, d.NextAttemptAt = "", d.UpdatedAt
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET due_at = ?, data = ? WHERE id = ?`,
			deliveryDue(d), encode(d), d.ID); err != nil {
			return err
		}
	}
	return nil
}

// DeliveryPrune implements ovm.Store (the index deliveries_state).
func (s *Store) DeliveryPrune(ctx context.Context, cutoff string, limit int) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries
			WHERE state = 'delivered' AND id < ? ORDER BY id LIMIT ?)`, cutoff, max(limit, 1))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
