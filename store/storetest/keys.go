package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// keyTests are the cases of keys.
var keyTests = []testCase{
	{"api keys are found by hash and revoked", testKeys},
	{"key names are unique without regard to case", testKeyNamesIgnoreCase},
	{"a key refused for its secret leaves its name free", testRefusedKeyLeavesItsName},
	{"the last active admin key cannot be revoked", testLastAdminKey},
	{"two admins revoking each other at once leave one of them", testConcurrentAdminRevoke},
}

func testKeys(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	k, secret, err := ovm.NewAPIKey("ci", ovm.RoleUser, T0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.KeyCreate(ctx, k); err != nil {
		t.Fatal(err)
	}
	dup, _, _ := ovm.NewAPIKey("ci", ovm.RoleAdmin, T0)
	wantErr(t, s.KeyCreate(ctx, dup), ovm.ErrConflict)
	got, err := s.KeyGetByHash(ctx, ovm.HashKey(secret))
	if err != nil || got.ID != k.ID || got.Role != ovm.RoleUser || got.Revoked() {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	_, err = s.KeyGetByHash(ctx, ovm.HashKey("ovm_wrong"))
	wantErr(t, err, ovm.ErrNotFound)
	r, err := s.KeyRevoke(ctx, k.ID, "key:admin", T0.Add(time.Hour))
	if err != nil || !r.Revoked() {
		t.Fatalf("revoke: %+v %v", r, err)
	}
	got, _ = s.KeyGetByHash(ctx, ovm.HashKey(secret))
	if !got.Revoked() {
		t.Fatal("revocation not stored")
	}
	if _, err := s.KeyRevoke(ctx, k.ID, "key:admin", T0.Add(2*time.Hour)); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	_, err = s.KeyRevoke(ctx, "key_nope", "x", T0)
	wantErr(t, err, ovm.ErrNotFound)
	other, _, _ := ovm.NewAPIKey("other", ovm.RoleAdmin, T0)
	s.KeyCreate(ctx, other)
	keys, _, err := s.KeyList(ctx, &ovm.PageParams{})
	if err != nil || len(keys) != 2 {
		t.Fatalf("list: %v %v", keys, err)
	}
}

func testKeyNamesIgnoreCase(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	first, _, _ := ovm.NewAPIKey("ADMIN", ovm.RoleUser, T0)
	if err := s.KeyCreate(ctx, first); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin", "Admin", "ADMIN"} {
		k, _, _ := ovm.NewAPIKey(name, ovm.RoleAdmin, T0)
		wantErr(t, s.KeyCreate(ctx, k), ovm.ErrConflict)
	}
	// A revoked key keeps its name.
	if _, err := s.KeyRevoke(ctx, first.ID, "key:x", T0); err != nil {
		t.Fatal(err)
	}
	k, _, _ := ovm.NewAPIKey("aDmIn", ovm.RoleUser, T0)
	wantErr(t, s.KeyCreate(ctx, k), ovm.ErrConflict)
	other, _, _ := ovm.NewAPIKey("admin-2", ovm.RoleUser, T0)
	if err := s.KeyCreate(ctx, other); err != nil {
		t.Fatalf("another name: %v", err)
	}
	keys, _, err := s.KeyList(ctx, &ovm.PageParams{})
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v %v: a refused key was stored", keys, err)
	}
	if got, err := s.KeyGetByHash(ctx, first.Hash); err != nil || got.Name != "ADMIN" {
		t.Fatalf("the first key: %+v %v, want its name as given", got, err)
	}
}

func testRefusedKeyLeavesItsName(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	first, _, _ := ovm.NewAPIKey("first", ovm.RoleUser, T0)
	if err := s.KeyCreate(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Another key with the same secret (replicas storing one admin key at
	// once) is refused, and takes nothing with it.
	same, _, _ := ovm.NewAPIKey("second", ovm.RoleUser, T0)
	same.Hash = first.Hash
	if err := s.KeyCreate(ctx, same); err == nil {
		t.Fatal("a second key with the same secret was stored")
	}
	second, _, _ := ovm.NewAPIKey("second", ovm.RoleUser, T0)
	if err := s.KeyCreate(ctx, second); err != nil {
		t.Fatalf("the name of a refused key is still taken: %v", err)
	}
	if got, err := s.KeyGetByHash(ctx, first.Hash); err != nil || got.ID != first.ID {
		t.Fatalf("the first key: %+v %v", got, err)
	}
}

// newKey stores a new key named name with role.
func newKey(t *testing.T, s ovm.Store, name string, role ovm.Role) *ovm.APIKey {
	t.Helper()
	k, _, err := ovm.NewAPIKey(name, role, T0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.KeyCreate(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

func testLastAdminKey(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	// User keys can always be revoked, with or without an admin key.
	u1 := newKey(t, s, "user-1", ovm.RoleUser)
	if _, err := s.KeyRevoke(ctx, u1.ID, "key:x", T0); err != nil {
		t.Fatalf("revoke a user key with no admin key: %v", err)
	}
	a := newKey(t, s, "admin-a", ovm.RoleAdmin)
	u2 := newKey(t, s, "user-2", ovm.RoleUser)
	refused := func(id string) {
		t.Helper()
		_, err := s.KeyRevoke(ctx, id, "key:x", T0)
		wantErr(t, err, ovm.ErrConflict)
		if !strings.Contains(err.Error(), "the last active admin key cannot be revoked; create another admin key first") {
			t.Fatalf("message %q does not say why", err)
		}
		if k, _ := s.KeyGetByHash(ctx, keyHash(t, s, id)); k.Revoked() {
			t.Fatal("a refused revoke revoked the key")
		}
	}
	refused(a.ID)
	if _, err := s.KeyRevoke(ctx, u2.ID, "key:x", T0); err != nil {
		t.Fatalf("revoke a user key: %v", err)
	}
	b := newKey(t, s, "admin-b", ovm.RoleAdmin)
	r, err := s.KeyRevoke(ctx, a.ID, "key:admin-b", T0.Add(time.Minute))
	if err != nil || !r.Revoked() {
		t.Fatalf("revoke one of two admin keys: %+v %v", r, err)
	}
	refused(b.ID)
	// Revoking twice stays a no-op, also for an admin key.
	again, err := s.KeyRevoke(ctx, a.ID, "key:admin-b", T0.Add(time.Hour))
	if err != nil || !again.RevokedAt.Equal(T0.Add(time.Minute)) {
		t.Fatalf("second revoke: %+v %v", again, err)
	}
	// Another admin key makes b revocable.
	newKey(t, s, "admin-c", ovm.RoleAdmin)
	if _, err := s.KeyRevoke(ctx, b.ID, "key:admin-c", T0); err != nil {
		t.Fatalf("revoke with another admin key: %v", err)
	}
}

// keyHash returns the hash of key id (KeyGetByHash is the store's only
// lookup of one key).
func keyHash(t *testing.T, s ovm.Store, id string) string {
	t.Helper()
	keys, _, err := s.KeyList(context.Background(), &ovm.PageParams{Limit: ovm.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == id {
			return k.Hash
		}
	}
	t.Fatalf("no key %s", id)
	return ""
}

func testConcurrentAdminRevoke(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	survivor := newKey(t, s, "admin-0", ovm.RoleAdmin)
	for round := 1; round <= 20; round++ {
		other := newKey(t, s, fmt.Sprint("admin-", round), ovm.RoleAdmin)
		pair := [2]*ovm.APIKey{survivor, other}
		var errs [2]error
		var wg sync.WaitGroup
		for i := range pair {
			wg.Add(1)
			go func() { // each revokes the other
				defer wg.Done()
				_, errs[i] = s.KeyRevoke(ctx, pair[1-i].ID, "key:"+pair[i].Name, T0)
			}()
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
				survivor = pair[i]
			case !errors.Is(err, ovm.ErrConflict):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d of two admins revoking each other succeeded, want exactly one", round, wins)
		}
	}
}
