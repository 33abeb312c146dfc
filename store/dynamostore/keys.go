package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
)

func keyPK(id string) string { return "KEY#" + id }

// keyNamePK is the marker of a key name: names are unique without regard
// to case (they are ASCII).
func keyNamePK(name string) string { return "KEYNAME#" + strings.ToLower(name) }

func decodeKey(it item) (*ovm.APIKey, error) {
	var k ovm.APIKey
	if err := json.Unmarshal([]byte(getS(it, "data")), &k); err != nil {
		return nil, fmt.Errorf("dynamostore: decode key: %w", err)
	}
	return &k, nil
}

// KeyCreate implements ovm.Store.
func (s *Store) KeyCreate(ctx context.Context, k *ovm.APIKey) error {
	if err := s.claimMarker(ctx, keyNamePK(k.Name), k.ID); errors.Is(err, ovm.ErrConflict) {
		return fmt.Errorf("key name %q is taken (names are unique without regard to case): %w", k.Name, ovm.ErrConflict)
	} else if err != nil {
		return err // not refused: failed (a name is taken only by a refusal)
	}
	if err := s.claimMarker(ctx, "KEYHASH#"+k.Hash, k.ID); err != nil {
		// The secret is another key's: this key is refused, and its name
		// is free again (else replicas storing one admin key at once would
		// burn names).
		s.releaseMarker(ctx, keyNamePK(k.Name), k.ID)
		return err
	}
	_, err := s.apply(ctx, keyPK(k.ID), "K", &change{set: item{"data": str(encodeJSON(k)), "gsi1pk": str("KEYS"), "gsi1sk": str(k.ID)},
		events: []*ovm.Event{{Time: k.CreatedAt, Kind: ovm.EventKey, KeyID: k.ID, Actor: ovm.ActorEngine, From: "", To: "active",
			Reason: fmt.Sprintf("key %s (%s) created", k.Name, k.Role)}},
		cond: "attribute_not_exists(pk)"})
	if errors.Is(err, ovm.ErrConflict) {
		return fmt.Errorf("key %s exists: %w", k.ID, ovm.ErrConflict)
	}
	if err != nil {
		// Not stored: give back what it claimed (a call again with this key
		// claims them again).
		s.releaseMarker(ctx, "KEYHASH#"+k.Hash, k.ID)
		s.releaseMarker(ctx, keyNamePK(k.Name), k.ID)
		return err
	}
	if k.Role != ovm.RoleAdmin {
		return nil
	}
	// Counted among the active admin keys only now that it exists (a key
	// revoked meanwhile is not added; see admins.go).
	_, err = s.addAdmin(ctx, k.ID)
	return err
}

// KeyGetByHash implements ovm.Store.
func (s *Store) KeyGetByHash(ctx context.Context, hash string) (*ovm.APIKey, error) {
	id, err := s.marker(ctx, "KEYHASH#"+hash)
	if err != nil {
		return nil, err
	}
	if id != "" {
		it, err := s.get(ctx, keyPK(id), "K")
		if err != nil {
			return nil, err
		}
		if it != nil {
			return decodeKey(it)
		}
	}
	return nil, fmt.Errorf("key: %w", ovm.ErrNotFound)
}

// KeyList implements ovm.Store.
func (s *Store) KeyList(ctx context.Context, p *ovm.PageParams) ([]*ovm.APIKey, string, error) {
	var pp ovm.PageParams
	if p != nil {
		pp = *p
	}
	var out []*ovm.APIKey
	next, err := s.listByID(ctx, "KEYS", pp, true, nil, nil, item{}, func(it item) error {
		k, err := decodeKey(it)
		if err == nil {
			out = append(out, k)
		}
		return err
	})
	return out, next, err
}

// KeyRevoke implements ovm.Store. An admin key is first taken out of the
// set of active admin keys with one conditional write (it must not be the
// last one), then its item is marked revoked (admins.go).
func (s *Store) KeyRevoke(ctx context.Context, id, actor string, now time.Time) (*ovm.APIKey, error) {
	it, err := s.get(ctx, keyPK(id), "K")
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("key %s: %w", id, ovm.ErrNotFound)
	}
	k, err := decodeKey(it)
	if err != nil || k.Revoked() {
		return k, err
	}
	if k.Role == ovm.RoleAdmin {
		if err := s.takeOutAdmin(ctx, k.ID); err != nil {
			return nil, err
		}
	}
	old := getS(it, "data")
	k.RevokedAt = now
	_, err = s.apply(ctx, keyPK(id), "K", &change{set: item{"data": str(encodeJSON(k))}, cond: "#d = :old",
		names: map[string]string{"#d": "data"}, values: item{":old": str(old)},
		events: []*ovm.Event{{Time: now, Kind: ovm.EventKey, KeyID: k.ID, Actor: actor, From: "active", To: "revoked",
			Reason: "key " + k.Name + " revoked"}}})
	if errors.Is(err, ovm.ErrConflict) {
		return s.KeyRevoke(ctx, id, actor, now) // revoked meanwhile: report it
	}
	return k, err
}
