package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// eventTests are the cases of events.
var eventTests = []testCase{
	{"the event log records every transition in order", testEventLog},
	{"pool events that name no account are listed by pool", testPoolEvents},
	{"drift events of an account are in its log", testAccountEventAppend},
	{"an event log pages newest first to its beginning, and by kind", testEventLogNewestFirst},
}

// testEventLogNewestFirst: a lease that issues a thousand credentials and
// then ends cannot hide its end behind them: the newest come first, and
// the cursor reaches every event once.
func testEventLogNewestFirst(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0)
	const issues = 250
	for i := range issues {
		if err := s.EventAppend(ctx, &ovm.Event{Time: T0.Add(time.Duration(i) * time.Millisecond), Kind: ovm.EventAccess,
			AccountID: l.AccountID, LeaseID: l.ID, Pool: "p1", Actor: "key:alice", From: "active", To: "active",
			Reason: fmt.Sprintf("credentials issued %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	endLease(t, s, l, T0.Add(time.Second))
	for _, sel := range []ovm.EventListParams{{AccountID: l.AccountID}, {LeaseID: l.ID}} {
		sel.Newest, sel.Limit = true, 100
		first, next, err := s.EventList(ctx, &sel)
		if err != nil || len(first) != 100 || next == "" {
			t.Fatalf("first page: %d events, next %q, %v", len(first), next, err)
		}
		if first[0].Kind != ovm.EventAccount && first[0].Kind != ovm.EventLease || first[0].To == "active" {
			t.Fatalf("the newest event is %+v, not the lease's end", first[0])
		}
		seen := map[int64]bool{}
		all := first
		for next != "" {
			sel.Cursor = next
			var page []*ovm.Event
			if page, next, err = s.EventList(ctx, &sel); err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
		}
		for i, e := range all {
			if seen[e.Seq] || i > 0 && e.Seq >= all[i-1].Seq {
				t.Fatalf("event %d (seq %d) out of order or twice", i, e.Seq)
			}
			seen[e.Seq] = true
		}
		oldest, _, _ := s.EventList(ctx, &ovm.EventListParams{AccountID: sel.AccountID, LeaseID: sel.LeaseID, PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}})
		if len(all) != len(oldest) || len(all) < issues+2 {
			t.Fatalf("newest first reached %d events, oldest first %d", len(all), len(oldest))
		}
	}
	got, _, err := s.EventList(ctx, &ovm.EventListParams{LeaseID: l.ID, Kind: ovm.EventAccess, Newest: true, PageParams: ovm.PageParams{Limit: 5}})
	if err != nil || len(got) != 5 || got[0].Reason != fmt.Sprintf("credentials issued %d", issues-1) {
		t.Fatalf("the newest access events: %+v %v", got, err)
	}
	for _, e := range got {
		if e.Kind != ovm.EventAccess {
			t.Fatalf("kind filter let through %+v", e)
		}
	}
}

func testEventLog(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := Ready(t, s, "p1", T0)
	l, _ := vend(s, "p1", "alice", T0, 0)
	if _, err := endLeaseAs(s, l, ovm.LeaseExpired, ovm.RetireClose, l.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	b, _ := s.AccountGet(ctx, a.ID)
	apply(t, s)(ovm.ObserveClosed(b, T0))
	want := []string{"account:->pending", "account:pending->creating", "account:creating->bootstrapping",
		"account:bootstrapping->ready", "account:ready->leased", "lease:->active", "lease:active->ended",
		"account:leased->closing", "account:closing->closed"}
	var got []string
	cursor := ""
	var last int64
	for {
		ev, next, err := s.EventList(ctx, &ovm.EventListParams{AccountID: a.ID, PageParams: ovm.PageParams{Limit: 4, Cursor: cursor}})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ev {
			if e.Seq <= last || e.Time.IsZero() || e.Actor == "" {
				t.Errorf("event %+v out of order or incomplete", e)
			}
			last = e.Seq
			got = append(got, fmt.Sprintf("%s:%s->%s", e.Kind, e.From, e.To))
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	lev, _, err := s.EventList(ctx, &ovm.EventListParams{LeaseID: l.ID})
	if err != nil || len(lev) != 4 {
		// the lease's own two events plus the account moves that name it
		t.Fatalf("lease events: %d %v", len(lev), err)
	}
}

func testPoolEvents(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	Ready(t, s, "p1", T0) // account events of the pool are not pool events
	for i := range 3 {
		if err := s.EventAppend(ctx, &ovm.Event{Time: T0, Kind: ovm.EventDrift, Pool: "p1", Actor: ovm.ActorDrift,
			From: "aws", To: "store", Reason: fmt.Sprint("drift ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ev, _, err := s.EventList(ctx, &ovm.EventListParams{Pool: "p1"})
	if err != nil || len(ev) != 3 || ev[0].Reason != "drift 0" || ev[2].Kind != ovm.EventDrift {
		t.Fatalf("pool events: %+v %v", ev, err)
	}
}

func testAccountEventAppend(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	a := Ready(t, s, "p1", T0)
	if err := s.EventAppend(ctx, &ovm.Event{Time: T0, Kind: ovm.EventDrift, AccountID: a.ID, Pool: "p1",
		Actor: ovm.ActorDrift, From: "aws", To: "store", Reason: "closed outside OVM"}); err != nil {
		t.Fatal(err)
	}
	ev, _, err := s.EventList(ctx, &ovm.EventListParams{AccountID: a.ID})
	if err != nil || len(ev) != 5 || ev[4].Kind != ovm.EventDrift || ev[4].Seq <= ev[3].Seq {
		t.Fatalf("events %+v %v", ev, err)
	}
	got, _ := s.AccountGet(ctx, a.ID)
	if got.Version != a.Version || got.State != a.State {
		t.Fatal("appending an event changed the account")
	}
}
