// Package storetest is the conformance suite every ovm.Store must pass. A
// store package calls Run from its tests with a constructor that returns a
// fresh, empty store for each test.
//
// New store behaviour enters this suite first; stores then implement it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// NewStore returns a fresh, empty store for one test. It registers its own
// cleanup with t.
type NewStore func(t *testing.T) ovm.Store

// T0 is the suite's reference time.
var T0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

var awsSeq atomic.Int64

// testCase is one sentence-named case of the suite.
type testCase struct {
	name string
	fn   func(*testing.T, ovm.Store)
}

// Run runs the whole suite against stores made by newStore: the cases of
// each record kind, one file each (accounts.go, vend.go, leases.go, keys.go,
// events.go, ledger.go, leader.go, samples.go, outbox.go).
func Run(t *testing.T, newStore NewStore) {
	var tests []testCase
	for _, kind := range [][]testCase{accountTests, vendTests, templateTests, leaseTests, keyTests, eventTests, ledgerTests,
		leaderTests, sampleTests, outboxTests, retentionTests, actorTests, spendTests, budgetTests, {{"every list refuses a garbage cursor and another list's cursor", testBadCursors}}} {
		tests = append(tests, kind...)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// Account returns a pending account of pool with unique id, name and e-mail,
// modified by mods.
func Account(pool string, mods ...func(*ovm.Account)) *ovm.Account {
	id := ovm.NewID("acc", T0)
	a := ovm.NewPendingAccount(id, pool, "ovm-"+id, "ovm+"+id+"@example.com", T0)
	for _, m := range mods {
		m(a)
	}
	return a
}

func nextAWSID() string { return fmt.Sprintf("%012d", 100000000000+awsSeq.Add(1)) }

// must fails the test when a transition constructor refused.
func must(t *testing.T) func(*ovm.AccountUpdate, error) *ovm.AccountUpdate {
	return func(u *ovm.AccountUpdate, err error) *ovm.AccountUpdate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
}

// apply stores the update a transition constructor built, failing the test
// if the constructor or the store refused.
func apply(t *testing.T, s ovm.Store) func(*ovm.AccountUpdate, error) *ovm.Account {
	return func(u *ovm.AccountUpdate, err error) *ovm.Account {
		t.Helper()
		a, err := s.AccountUpdate(context.Background(), must(t)(u, err))
		if err != nil {
			t.Fatalf("update to %s: %v", u.Account.State, err)
		}
		return a
	}
}

func insert(t *testing.T, s ovm.Store, a *ovm.Account) *ovm.Account {
	t.Helper()
	if err := s.AccountInsert(context.Background(), a, ovm.ActorPlanner); err != nil {
		t.Fatal(err)
	}
	return a
}

// Ready inserts an account of pool and walks it to ready through the
// transition constructors; at is when it became ready.
func Ready(t *testing.T, s ovm.Store, pool string, at time.Time) *ovm.Account {
	t.Helper()
	a := insert(t, s, Account(pool))
	a = apply(t, s)(ovm.StartCreating(a, "ref-"+a.ID, at))
	a = apply(t, s)(ovm.FinishCreating(a, nextAWSID(), at))
	return apply(t, s)(ovm.FinishBootstrap(a, ovm.RoleARN(a.AWSAccountID, ovm.DefaultRoleName), at))
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func readyCount(t *testing.T, s ovm.Store, pool string) int {
	t.Helper()
	c, err := s.PoolCounts(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	return c.ByState[ovm.AccountReady]
}

func testBadCursors(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := Ready(t, s, "p1", T0)
	Ready(t, s, "p1", T0)
	for range 2 {
		if _, err := vend(s, "p1", "alice", T0, 0); err != nil {
			t.Fatal(err)
		}
		k, _, _ := ovm.NewAPIKey(ovm.NewID("k", T0), ovm.RoleUser, T0)
		if err := s.KeyCreate(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	lists := []struct {
		name string
		list func(cursor string) (next string, err error)
	}{
		{"accounts", func(c string) (string, error) {
			_, next, err := s.AccountList(ctx, &ovm.AccountListParams{PageParams: ovm.PageParams{Limit: 1, Cursor: c}})
			return next, err
		}},
		{"leases", func(c string) (string, error) {
			_, next, err := s.LeaseList(ctx, &ovm.LeaseListParams{PageParams: ovm.PageParams{Limit: 1, Cursor: c}})
			return next, err
		}},
		{"keys", func(c string) (string, error) {
			_, next, err := s.KeyList(ctx, &ovm.PageParams{Limit: 1, Cursor: c})
			return next, err
		}},
		{"events", func(c string) (string, error) {
			_, next, err := s.EventList(ctx, &ovm.EventListParams{AccountID: a.ID, PageParams: ovm.PageParams{Limit: 1, Cursor: c}})
			return next, err
		}},
		{"events newest first", func(c string) (string, error) {
			_, next, err := s.EventList(ctx, &ovm.EventListParams{AccountID: a.ID, Newest: true, PageParams: ovm.PageParams{Limit: 1, Cursor: c}})
			return next, err
		}},
	}
	cursors := map[string]string{}
	for _, l := range lists {
		next, err := l.list("")
		if err != nil || next == "" {
			t.Fatalf("%s: first page: next %q, %v", l.name, next, err)
		}
		if _, err := l.list(next); err != nil {
			t.Fatalf("%s: its own cursor: %v", l.name, err)
		}
		cursors[l.name] = next
	}
	invalid := func(what string, err error) {
		t.Helper()
		if ovm.ErrorCodeOf(err) != ovm.EInvalid || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("%s: %v, want an invalid-cursor error", what, err)
		}
	}
	for _, l := range lists {
		for _, garbage := range []string{"garbage", "!!not-a-cursor", "eyJ9"} {
			_, err := l.list(garbage)
			invalid(fmt.Sprintf("%s with cursor %q", l.name, garbage), err)
		}
		for other, c := range cursors {
			if other != l.name {
				_, err := l.list(c)
				invalid(fmt.Sprintf("%s with a cursor of %s", l.name, other), err)
			}
		}
	}
}
