package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/store/storetest"
)

// dump is every row of every table of db, as text: what a change left
// behind.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		rows.Scan(&name)
		tables = append(tables, name)
	}
	rows.Close()
	var b strings.Builder
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`" ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		fmt.Fprintf(&b, "%s %v\n", table, cols)
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "  %v\n", vals)
		}
		rows.Close()
	}
	return b.String()
}

// With a trigger that makes every outbox insert fail, each change that
// emits a notification fails whole and leaves the database as it was: the
// outbox entry is written in the transaction of its event and its change
// (CONTRIBUTING.md, docs/adr/0006).
func TestAChangeWhoseOutboxEntryFailsLeavesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ovm.db")
	s := open(t, path)
	defer s.Close()
	now := storetest.T0.Add(time.Hour)

	// A ready account, a leased one, and one in creation.
	storetest.Ready(t, s, "p1", storetest.T0)
	leased := storetest.Ready(t, s, "p1", storetest.T0)
	l, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: "p1", Owner: "alice",
		Now: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if l.AccountID == leased.ID {
		leased, _ = s.AccountGet(ctx, l.AccountID)
	}
	creating := storetest.Account("p1")
	if err := s.AccountInsert(ctx, creating, ovm.ActorPlanner); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER test_outbox_refuses BEFORE INSERT ON deliveries
		BEGIN SELECT RAISE(ABORT, 'test: the outbox refuses'); END`); err != nil {
		t.Fatal(err)
	}
	before := dump(t, db)

	changes := []struct {
		name string
		do   func() error
	}{
		{"a vend (lease.created)", func() error {
			_, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: "p1", Owner: "bob",
				Now: now, ExpiresAt: now.Add(time.Hour)})
			return err
		}},
		{"a lease's end (lease.ended)", func() error {
			_, err := storetest.EndLease(ctx, s, l.ID, ovm.LeaseReleased, ovm.RetirePolicy{Mode: ovm.RetireClose}, "key:alice", now)
			return err
		}},
		{"a quarantine (account.quarantined)", func() error {
			a, err := s.AccountGet(ctx, creating.ID)
			if err != nil {
				return err
			}
			u, err := ovm.QuarantineAccount(a, ovm.ActorEngine, "refused for good", now)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.AccountUpdate(ctx, u)
			return err
		}},
		{"drift (drift.found)", func() error {
			return s.EventAppend(ctx, &ovm.Event{Time: now, Kind: ovm.EventDrift, AccountID: leased.ID, Pool: "p1",
				Actor: ovm.ActorDrift, From: "aws", To: "store", Reason: "suspended in AWS"})
		}},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(); err == nil {
				t.Error("the change succeeded without its outbox entry")
			}
			if after := dump(t, db); after != before {
				t.Errorf("the refused change left the database changed:\n%s", lineDiff(before, after))
				before = after
			}
		})
	}

	// Without the trigger each change goes through with its entry.
	if _, err := db.ExecContext(ctx, `DROP TRIGGER test_outbox_refuses`); err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if err := c.do(); err != nil {
			t.Fatalf("%s without the trigger: %v", c.name, err)
		}
	}
	ds, _, err := s.DeliveryList(ctx, &ovm.DeliveryListParams{PageParams: ovm.PageParams{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	types := map[ovm.NotificationType]int{}
	for _, d := range ds {
		types[d.Event.Type]++
	}
	for _, want := range []ovm.NotificationType{ovm.NotifyLeaseCreated, ovm.NotifyLeaseEnded, ovm.NotifyAccountQuarantined, ovm.NotifyDriftFound} {
		if types[want] == 0 {
			t.Errorf("no %s in the outbox: %v", want, types)
		}
	}
}

// lineDiff lists the lines only one of a and b has.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !inb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ina[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
