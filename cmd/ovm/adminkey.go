package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/atomicfile"
)

// ensureAdminKey makes sure an admin can reach the server. The key in
// keyPath (the data directory's admin.key) is the first admin's:
//   - missing or empty: a new key is written there (0600) before its hash is
//     stored, so a crash in between is repaired at the next start (whoever
//     holds the data directory can so always regain admin access);
//   - revoked (the admins rotated it): the start goes on with a warning
//     that names the file when another admin key is active, and writes a
//     new key there when none is;
//   - unknown to the store (a fresh store): it is stored as an admin key;
//   - anything else in it (a typo, a placeholder) stops the start: it is
//     never made an admin key.
//
// It reports whether the file holds an active admin key. The key itself is
// never printed or logged.
func ensureAdminKey(ctx context.Context, store ovm.Store, keyPath string, now time.Time, log *slog.Logger) (bool, error) {
	data, err := os.ReadFile(keyPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	secret := strings.TrimSpace(string(data))
	if secret != "" && !ovm.IsKeySecret(secret) {
		return false, fmt.Errorf("%s holds no OVM API key (ovm_ and 43 characters); put an admin key in it, or delete it to have a new one written", keyPath)
	}
	if secret != "" {
		k, err := store.KeyGetByHash(ctx, ovm.HashKey(secret))
		switch {
		case err == nil && !k.Revoked():
			return true, nil
		case err == nil:
			active, err := activeAdmins(ctx, store)
			if err != nil {
				return false, err
			}
			if active > 0 {
				log.Warn("the key in this file was revoked; other admin keys are active, so it is left as it is (put a current admin key in it)",
					"file", keyPath, "active_admin_keys", active)
				return false, nil
			}
			log.Warn("the key in this file was revoked and no admin key is active: writing a new admin key to it", "file", keyPath)
			secret = ""
		case !errors.Is(err, ovm.ErrNotFound):
			return false, err
		}
	}
	if secret == "" {
		if _, secret, err = ovm.NewAPIKey("admin", ovm.RoleAdmin, now); err != nil {
			return false, err
		}
		if err := atomicfile.Write(keyPath, []byte(secret+"\n"), 0o600); err != nil {
			return false, err
		}
	}
	return true, storeAdminKey(ctx, store, secret, now)
}

// storeAdminKey stores secret's hash as an admin key named admin, or
// admin-2, admin-3... when the name belongs to another key.
//
// Replicas started at once on a fresh store are all given the same key and
// all try to store it: every one but the first finds the name admin taken.
// Before it tries another name, a replica looks for a key with its hash
// (stored meanwhile: it is done), and gives a name up only for a key that
// holds it. A name claimed by a creation still under way (DynamoDB claims
// the name, then the hash, then writes the key) is waited for: trying the
// next name instead would claim that one for good, the creation then
// refused for its hash.
func storeAdminKey(ctx context.Context, store ovm.Store, secret string, now time.Time) error {
	hash := ovm.HashKey(secret)
	waits := 0
	for i := 1; i <= adminKeyNames; {
		name := "admin"
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		k, _, err := ovm.NewAPIKey(name, ovm.RoleAdmin, now)
		if err != nil {
			return err
		}
		k.Hash = hash
		err = store.KeyCreate(ctx, k)
		if !errors.Is(err, ovm.ErrConflict) {
			return err
		}
		// The name's holder is looked for first: a key written between
		// the two reads is then found by its hash, never taken for
		// another key that holds the name.
		held, err := keyNamed(ctx, store, name)
		if err != nil {
			return err
		}
		switch _, err := store.KeyGetByHash(ctx, hash); {
		case err == nil:
			return nil // stored by another replica
		case !errors.Is(err, ovm.ErrNotFound):
			return err
		}
		if !held && waits < adminKeyWaits {
			// Claimed, with no key yet: a creation under way (or one
			// that failed half-way, given up once the waits are spent).
			waits++
			t := time.NewTimer(adminKeyWait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			continue
		}
		i++
	}
	return fmt.Errorf("no free admin key name (admin to admin-%d are taken): %w", adminKeyNames, ovm.ErrConflict)
}

const (
	// adminKeyNames is how many names storeAdminKey tries.
	adminKeyNames = 101
	// adminKeyWaits and adminKeyWait bound how long storeAdminKey waits, in
	// all, for names claimed by creations under way: 2s, far more than
	// the few writes of a creation take.
	adminKeyWaits = 20
	adminKeyWait  = 100 * time.Millisecond
)

// keyNamed reports whether a key named name (without regard to case)
// exists.
func keyNamed(ctx context.Context, store ovm.Store, name string) (bool, error) {
	p := &ovm.PageParams{Limit: ovm.MaxPageLimit}
	for {
		keys, next, err := store.KeyList(ctx, p)
		if err != nil {
			return false, err
		}
		for _, k := range keys {
			if strings.EqualFold(k.Name, name) {
				return true, nil
			}
		}
		if next == "" {
			return false, nil
		}
		p.Cursor = next
	}
}

// activeAdmins counts the admin keys that are not revoked.
func activeAdmins(ctx context.Context, store ovm.Store) (int, error) {
	n := 0
	p := &ovm.PageParams{Limit: ovm.MaxPageLimit}
	for {
		keys, next, err := store.KeyList(ctx, p)
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			if k.Role == ovm.RoleAdmin && !k.Revoked() {
				n++
			}
		}
		if next == "" {
			return n, nil
		}
		p.Cursor = next
	}
}
