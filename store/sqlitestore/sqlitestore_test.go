package sqlitestore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/store/sqlitestore"
	"github.com/ovmdev/ovm/store/storetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ovm.Store {
		s := open(t, filepath.Join(t.TempDir(), "ovm.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestASecondProcessCannotOpenTheSameDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ovm.db")
	s := open(t, path)
	_, err := sqlitestore.Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v, want an in-use error", err)
	}
	s.Close()
	open(t, path).Close()
}

func TestReopeningReleasesClaimsAndKeepsRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ovm.db")
	s := open(t, path)
	a := storetest.Account("p1")
	if err := s.AccountInsert(ctx, a, "planner"); err != nil {
		t.Fatal(err)
	}
	u, _ := ovm.ClaimAccount(a, "dead-worker", storetest.T0, storetest.T0.Add(time.Hour))
	if _, err := s.AccountUpdate(ctx, u); err != nil {
		t.Fatal(err)
	}
	due, _ := s.AccountListDue(ctx, &ovm.AccountListDueParams{Now: storetest.T0, Limit: 10})
	if len(due) != 0 {
		t.Fatal("claimed account listed as due")
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	due, err := s.AccountListDue(ctx, &ovm.AccountListDueParams{Now: storetest.T0, Limit: 10})
	if err != nil || len(due) != 1 || due[0].ID != a.ID || due[0].ClaimedBy != "" {
		t.Fatalf("after reopen: %v %v, want %s due and unclaimed", due, err, a.ID)
	}
	if due[0].Email != a.Email {
		t.Fatal("record changed")
	}
}

func TestImportStoresAccountsInAnyStateAtomically(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "ovm.db"))
	defer s.Close()
	ready := storetest.Account("p1", func(a *ovm.Account) {
		a.State, a.AWSAccountID, a.RoleARN = ovm.AccountReady, "111122223333", ovm.RoleARN("111122223333", "R")
	})
	if err := s.AccountImport(ctx, []*ovm.Account{ready}, "import"); err != nil {
		t.Fatal(err)
	}
	l, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: "lse_1", Pool: "p1", Owner: "o", Now: storetest.T0, ExpiresAt: storetest.T0.Add(time.Hour)})
	if err != nil || l.AWSAccountID != "111122223333" {
		t.Fatalf("vend of an imported account: %+v %v", l, err)
	}
	// One bad account: nothing of the batch is stored.
	good := storetest.Account("p1")
	dup := storetest.Account("p1", func(a *ovm.Account) { a.Email = ready.Email })
	if err := s.AccountImport(ctx, []*ovm.Account{good, dup}, "import"); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("import with a duplicate: %v", err)
	}
	if _, err := s.AccountGet(ctx, good.ID); ovm.ErrorCodeOf(err) != ovm.ENotFound {
		t.Fatalf("a failed import stored part of its batch: %v", err)
	}
}

// Vends that share a group commit keep their own outcomes: vends over an
// owner's limit, over its limit in the pool, and of an empty pool fail
// alone, every other vend of the batch is committed, and no account is
// vended twice.
func TestVendsSharingACommitFailAlone(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "ovm.db"))
	defer s.Close()
	// 60 vends, 15 each: "free" (no limit), "limited" (3 over all pools),
	// "capped" (3 in the pool), and "late" from the empty pool p2. The
	// stock of 21 is exactly what they may take.
	var stock []*ovm.Account
	for i := range 21 {
		id := fmt.Sprintf("1111%08d", i)
		stock = append(stock, storetest.Account("p1", func(a *ovm.Account) {
			a.State, a.AWSAccountID, a.RoleARN = ovm.AccountReady, id, ovm.RoleARN(id, "R")
		}))
	}
	if err := s.AccountImport(ctx, stock, "import"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		owner string
		l     *ovm.Lease
		err   error
	}
	results := make(chan result, 60)
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &ovm.LeaseCreateParams{LeaseID: fmt.Sprintf("lse_%02d", i), Pool: "p1", Now: storetest.T0,
				ExpiresAt: storetest.T0.Add(time.Hour)}
			switch i % 4 {
			case 0:
				p.Owner = "free"
			case 1:
				p.Owner, p.OwnerLimit = "limited", 3
			case 2:
				p.Owner, p.PoolOwnerLimit = "capped", 3
			case 3:
				p.Owner, p.Pool = "late", "p2"
			}
			l, err := s.LeaseCreate(ctx, p)
			results <- result{p.Owner, l, err}
		}()
	}
	wg.Wait()
	close(results)
	granted, refused, seen := map[string]int{}, map[string]int{}, map[string]bool{}
	for r := range results {
		switch {
		case r.err == nil:
			granted[r.owner]++
			if seen[r.l.AWSAccountID] {
				t.Fatalf("%s vended twice", r.l.AWSAccountID)
			}
			seen[r.l.AWSAccountID] = true
			if got, err := s.LeaseGet(ctx, r.l.ID); err != nil || got.AccountID != r.l.AccountID {
				t.Fatalf("a granted lease is not stored: %v", err)
			}
		case errors.Is(r.err, ovm.ErrPoolLeaseLimit) && r.owner == "capped",
			errors.Is(r.err, ovm.ErrLeaseLimit) && !errors.Is(r.err, ovm.ErrPoolLeaseLimit) && r.owner == "limited",
			errors.Is(r.err, ovm.ErrEmpty) && r.owner == "late":
			refused[r.owner]++
		default:
			t.Fatalf("vend of %s: %v", r.owner, r.err)
		}
	}
	want := map[string][2]int{"free": {15, 0}, "limited": {3, 12}, "capped": {3, 12}, "late": {0, 15}}
	for owner, w := range want {
		if granted[owner] != w[0] || refused[owner] != w[1] {
			t.Errorf("%s: %d granted and %d refused, want %d and %d", owner, granted[owner], refused[owner], w[0], w[1])
		}
	}
	if c, err := s.PoolCounts(ctx, "p1"); err != nil || c.ByState[ovm.AccountReady] != 0 || c.ByState[ovm.AccountLeased] != 21 {
		t.Errorf("stock after the batch: %v %v, want all 21 leased", c, err)
	}
	// After Close a vend is an error, not a hang.
	s.Close()
	if _, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: "lse_late", Pool: "p1", Owner: "o", Now: storetest.T0,
		ExpiresAt: storetest.T0.Add(time.Hour)}); err == nil {
		t.Fatal("vend after close")
	}
}

// Keys made before names were unique without regard to case keep working
// after the migration, and no new key can take any of their names.
func TestKeysThatDifferOnlyInCaseSurviveTheMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ovm.db")
	open(t, path).Close()
	// Back to the schema before migration 4, with two keys it forbids.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, stmt := range []string{`DROP INDEX api_keys_name_fold`, `ALTER TABLE api_keys DROP COLUMN name_fold`,
		`DELETE FROM schema_migrations WHERE version = 4`} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ADMIN", "admin"} {
		k, secret, _ := ovm.NewAPIKey(name, ovm.RoleAdmin, storetest.T0)
		b, _ := json.Marshal(k)
		if _, err := db.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, data) VALUES (?, ?, ?, ?)`, k.ID, k.Name, k.Hash, string(b)); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	db.Close()

	s := open(t, path)
	defer s.Close()
	for _, secret := range secrets {
		if _, err := s.KeyGetByHash(ctx, ovm.HashKey(secret)); err != nil {
			t.Fatalf("a key made before the migration: %v", err)
		}
	}
	for _, name := range []string{"Admin", "admin", "ADMIN"} {
		k, _, _ := ovm.NewAPIKey(name, ovm.RoleUser, storetest.T0)
		if err := s.KeyCreate(ctx, k); !errors.Is(err, ovm.ErrConflict) {
			t.Fatalf("new key %q: %v, want a conflict", name, err)
		}
	}
	k, _, _ := ovm.NewAPIKey("ci", ovm.RoleUser, storetest.T0)
	if err := s.KeyCreate(ctx, k); err != nil {
		t.Fatal(err)
	}
}

// Only one process opens the store, so the leader leases of the one
// before it (killed, or stopped without releasing them) are dropped at
// Open: the new process plans at once instead of after the lease expires.
func TestReopeningDropsTheLeaderLeases(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ovm.db")
	s := open(t, path)
	for _, name := range []string{"planner", "drift"} {
		if ok, err := s.LeaderAcquire(ctx, name, "host-1234", storetest.T0, storetest.T0.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("acquire %s: %v %v", name, ok, err)
		}
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	for _, name := range []string{"planner", "drift"} {
		if ok, err := s.LeaderAcquire(ctx, name, "host-5678", storetest.T0, storetest.T0.Add(15*time.Second)); err != nil || !ok {
			t.Fatalf("%s after reopening: held %v (%v), want the new process to take it at once", name, ok, err)
		}
	}
}

// A database that a newer OVM migrated is refused at Open, naming both
// schema versions and what to do, and is left exactly as it was: no
// migration is undone, no claim released, not a byte written.
func TestADatabaseOfANewerOVMIsRefusedUntouched(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ovm.db")
	s := open(t, path)
	a := storetest.Account("p1")
	if err := s.AccountInsert(ctx, a, "planner"); err != nil {
		t.Fatal(err)
	}
	u, _ := ovm.ClaimAccount(a, "a-worker", storetest.T0, storetest.T0.Add(time.Hour))
	if _, err := s.AccountUpdate(ctx, u); err != nil {
		t.Fatal(err)
	}
	s.Close()
	know := len(embeddedMigrations(t))
	// What a newer OVM would have left: its migration recorded, a table of its own.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`CREATE TABLE future (x TEXT) STRICT`, `INSERT INTO future VALUES ('kept')`,
		fmt.Sprintf(`INSERT INTO schema_migrations (version) VALUES (%d)`, know+1)} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	_, err = sqlitestore.Open(ctx, path)
	if !errors.Is(err, ovm.ErrNewerSchema) {
		t.Fatalf("open a newer database: %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{path, fmt.Sprintf("schema version %d", know+1), fmt.Sprintf("versions up to %d", know),
		"ovm binary at least as new", "restore a backup", "docs/upgrades.md"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the refused open changed the database file")
	}
	// The lock is given back: once the newer schema is gone (a restore),
	// the same path opens.
	db, _ = sql.Open("sqlite", "file:"+path)
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`DELETE FROM schema_migrations WHERE version = %d`, know+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	open(t, path).Close()
}

// embeddedMigrations lists the migrations this package embeds.
func embeddedMigrations(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations: %v %v", names, err)
	}
	return names
}
