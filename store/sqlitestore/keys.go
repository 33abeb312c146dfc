package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// KeyCreate implements ovm.Store.
func (s *Store) KeyCreate(ctx context.Context, k *ovm.APIKey) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// name_fold makes names unique without regard to case (migration 4).
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, name_fold, hash, data) VALUES (?, ?, lower(?), ?, ?)`,
			k.ID, k.Name, k.Name, k.Hash, encode(k))
		if isConstraint(err) {
			return fmt.Errorf("key name %q is taken (names are unique without regard to case): %w", k.Name, ovm.ErrConflict)
		}
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, &ovm.Event{Time: k.CreatedAt, Kind: ovm.EventKey, KeyID: k.ID,
			Actor: ovm.ActorEngine, From: "", To: "active", Reason: fmt.Sprintf("key %s (%s) created", k.Name, k.Role)})
	})
}

// KeyGetByHash implements ovm.Store.
func (s *Store) KeyGetByHash(ctx context.Context, hash string) (*ovm.APIKey, error) {
	var data string
	err := s.r.QueryRowContext(ctx, `SELECT data FROM api_keys WHERE hash = ?`, hash).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("key: %w", ovm.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return decodeKey(data)
}

// KeyList implements ovm.Store.
func (s *Store) KeyList(ctx context.Context, p *ovm.PageParams) ([]*ovm.APIKey, string, error) {
	var pp ovm.PageParams
	if p != nil {
		pp = *p
	}
	return listPage(ctx, s, "api_keys", ovm.CursorKeys, pp, false, nil, decodeKey, func(k *ovm.APIKey) string { return k.ID })
}

// KeyRevoke implements ovm.Store. The check that another active admin key
// remains and the revocation are one write transaction, so two admins
// revoking each other at once cannot both succeed.
func (s *Store) KeyRevoke(ctx context.Context, id, actor string, now time.Time) (*ovm.APIKey, error) {
	var out *ovm.APIKey
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var data string
		err := tx.QueryRowContext(ctx, `SELECT data FROM api_keys WHERE id = ?`, id).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("key %s: %w", id, ovm.ErrNotFound)
		}
		if err != nil {
			return err
		}
		k, err := decodeKey(data)
		if err != nil {
			return err
		}
		out = k
		if k.Revoked() {
			return nil
		}
		if k.Role == ovm.RoleAdmin {
			if err := otherActiveAdmin(ctx, tx, k.ID); err != nil {
				return err
			}
		}
		k.RevokedAt = now
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET data = ? WHERE id = ?`, encode(k), id); err != nil {
			return err
		}
		return insertEvent(ctx, tx, &ovm.Event{Time: now, Kind: ovm.EventKey, KeyID: k.ID, Actor: actor,
			From: "active", To: "revoked", Reason: "key " + k.Name + " revoked"})
	})
	return out, err
}

// otherActiveAdmin returns nil if an active admin key other than id
// exists, and ErrConflict if none does.
func otherActiveAdmin(ctx context.Context, tx *sql.Tx, id string) error {
	rows, err := tx.QueryContext(ctx, `SELECT data FROM api_keys WHERE id != ? AND json_extract(data, '$.role') = ?`, id, ovm.RoleAdmin)
	if err != nil {
		return err
	}
	admins, err := scanAll(rows, decodeKey)
	if err != nil {
		return err
	}
	for _, a := range admins {
		if !a.Revoked() {
			return nil
		}
	}
	return fmt.Errorf("the last active admin key cannot be revoked; create another admin key first: %w", ovm.ErrConflict)
}
