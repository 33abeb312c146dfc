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
//     stored, so a crash in between is repaired at the next start;
//   - revoked (the admins rotated it): the start goes on with a warning
//     that names the file when another admin key is active, and writes a
//     new key there when none is;
//   - unknown to the store (a fresh store): it is stored as an admin key.
//
// The key itself is never printed or logged.
func ensureAdminKey(ctx context.Context, store ovm.Store, keyPath string, now time.Time, log *slog.Logger) error {
	data, err := os.ReadFile(keyPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	secret := strings.TrimSpace(string(data))
	if secret != "" {
		k, err := store.KeyGetByHash(ctx, ovm.HashKey(secret))
		switch {
		case err == nil && !k.Revoked():
			return nil
		case err == nil:
			active, err := activeAdmins(ctx, store)
			if err != nil {
				return err
			}
			if active > 0 {
				log.Warn("the key in this file was revoked; other admin keys are active, so it is left as it is (delete the file, or keep another admin key there)",
					"file", keyPath, "active_admin_keys", active)
				return nil
			}
			log.Warn("the key in this file was revoked and no admin key is active: writing a new admin key to it", "file", keyPath)
			secret = ""
		case !errors.Is(err, ovm.ErrNotFound):
			return err
		}
	}
	if secret == "" {
		if _, secret, err = ovm.NewAPIKey("admin", ovm.RoleAdmin, now); err != nil {
			return err
		}
		if err := atomicfile.Write(keyPath, []byte(secret+"\n"), 0o600); err != nil {
			return err
		}
	}
	return storeAdminKey(ctx, store, secret, now)
}

// storeAdminKey stores secret's hash as an admin key named admin, or
// admin-2, admin-3... when the name is taken.
func storeAdminKey(ctx context.Context, store ovm.Store, secret string, now time.Time) error {
	for i := 1; ; i++ {
		name := "admin"
		if i > 1 {
			name += "-" + strconv.Itoa(i)
		}
		k, _, err := ovm.NewAPIKey(name, ovm.RoleAdmin, now)
		if err != nil {
			return err
		}
		k.Hash = ovm.HashKey(secret)
		err = store.KeyCreate(ctx, k)
		if !errors.Is(err, ovm.ErrConflict) {
			return err
		}
		if i > 100 {
			return fmt.Errorf("no free admin key name: %w", err)
		}
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
