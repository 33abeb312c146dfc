package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

func TestTheAdminKeyFileSurvivesRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keyPath := filepath.Join(dir, "admin.key")
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	read := func() string {
		b, err := os.ReadFile(keyPath)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}

	// First start: a key in the file, stored as admin.
	if ok, err := ensureAdminKey(ctx, store, keyPath, now, log); err != nil || !ok {
		t.Fatal(ok, err)
	}
	first := read()
	k1, err := store.KeyGetByHash(ctx, ovm.HashKey(first))
	if err != nil || k1.Role != ovm.RoleAdmin {
		t.Fatalf("first key %+v (%v)", k1, err)
	}
	if fi, _ := os.Stat(keyPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key mode %v", fi.Mode())
	}

	// Rotation: a second admin revokes the first; the next start goes on,
	// warns naming the file, and leaves it alone.
	k2, _, _ := ovm.NewAPIKey("ops", ovm.RoleAdmin, now)
	if err := store.KeyCreate(ctx, k2); err != nil {
		t.Fatal(err)
	}
	if _, err := store.KeyRevoke(ctx, k1.ID, "key:ops", now); err != nil {
		t.Fatal(err)
	}
	if ok, err := ensureAdminKey(ctx, store, keyPath, now, log); err != nil || ok {
		t.Fatalf("a start with a rotated admin.key: usable %v, %v", ok, err)
	}
	if read() != first || !strings.Contains(logs.String(), keyPath) || !strings.Contains(logs.String(), "revoked") {
		t.Fatalf("file changed or no warning naming it: %s", logs.String())
	}
	if strings.Contains(logs.String(), first) {
		t.Fatal("the key reached the log")
	}

	// No admin key active any more (here: the other admin's key was
	// stored revoked, as a store restored from an old backup may hold):
	// the start writes a new admin key to the file.
	dir2 := t.TempDir()
	store2, err := sqlitestore.Open(ctx, filepath.Join(dir2, "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	gone, secret, _ := ovm.NewAPIKey("admin", ovm.RoleAdmin, now)
	gone.RevokedAt = now
	if err := store2.KeyCreate(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if got, err := store2.KeyGetByHash(ctx, gone.Hash); err != nil || !got.Revoked() {
		t.Fatalf("setup: the stored key is not revoked (%+v, %v)", got, err)
	}
	keyPath = filepath.Join(dir2, "admin.key")
	os.WriteFile(keyPath, []byte(secret+"\n"), 0o600)
	if ok, err := ensureAdminKey(ctx, store2, keyPath, now, log); err != nil || !ok {
		t.Fatal(ok, err)
	}
	fresh := read()
	k, err := store2.KeyGetByHash(ctx, ovm.HashKey(fresh))
	if fresh == secret || err != nil || k.Revoked() || k.Role != ovm.RoleAdmin {
		t.Fatalf("no new active admin key in the file: %+v (%v)", k, err)
	}
}

func TestAnAdminKeyFileWithoutAKeyStopsTheStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keyPath := filepath.Join(dir, "admin.key")
	for _, content := range []string{"changeme", "ovm_short", "x"} {
		os.WriteFile(keyPath, []byte(content+"\n"), 0o600)
		ok, err := ensureAdminKey(ctx, store, keyPath, time.Now(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil || ok || !strings.Contains(err.Error(), "holds no OVM API key") || strings.Contains(err.Error(), content) {
			t.Errorf("%q: usable %v, %v", content, ok, err)
		}
	}
	keys, _, _ := store.KeyList(ctx, &ovm.PageParams{})
	if len(keys) != 0 {
		t.Fatalf("a key was stored from a file without a key: %+v", keys)
	}
}
