package sqlitestore_test

import (
	"context"
	"path/filepath"
	"strings"
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
