package ovm_test

import (
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

func TestWhichEventsReportANotification(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	lease := func(from, to string) *ovm.Event {
		return &ovm.Event{Time: at, Kind: ovm.EventLease, AccountID: "acc_1", LeaseID: "lse_1", Pool: "p", From: from, To: to, Reason: "released"}
	}
	account := func(from, to string) *ovm.Event {
		return &ovm.Event{Time: at, Kind: ovm.EventAccount, AccountID: "acc_1", Pool: "p", From: from, To: to, Reason: "INVALID_EMAIL"}
	}
	for _, tc := range []struct {
		name string
		e    *ovm.Event
		want ovm.NotificationType
	}{
		{"a new lease is lease.created", lease("", "active"), ovm.NotifyLeaseCreated},
		{"an extension is nothing", lease("active", "active"), ""},
		{"an active lease's end is lease.ended", lease("active", "ended"), ovm.NotifyLeaseEnded},
		{"a record about an ended lease is no second lease.ended", lease("ended", "ended"), ""},
		{"a move to quarantined is account.quarantined", account("creating", "quarantined"), ovm.NotifyAccountQuarantined},
		{"a record about a quarantined account is no second quarantine", account("quarantined", "quarantined"), ""},
		{"other transitions are nothing", account("bootstrapping", "ready"), ""},
		{"drift is drift.found", &ovm.Event{Time: at, Kind: ovm.EventDrift, Pool: "p", Reason: "unknown account"}, ovm.NotifyDriftFound},
		{"a key's change is nothing", &ovm.Event{Time: at, Kind: ovm.EventKey, KeyID: "key_1", To: "revoked"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ovm.NotificationTypeOf(tc.e); got != tc.want {
				t.Fatalf("type %q, want %q", got, tc.want)
			}
			n := ovm.NotificationFor(tc.e, nil, nil)
			if (n == nil) != (tc.want == "") || n != nil && (n.Type != tc.want || n.ID == "" || !n.Time.Equal(at)) {
				t.Fatalf("notification %+v", n)
			}
		})
	}
}

func TestANotificationCarriesTheRecordsItNames(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	a := &ovm.Account{ID: "acc_1", AWSAccountID: "123456789012", Pool: "p", LastError: "close: refused"}
	l := &ovm.Lease{ID: "lse_1", AccountID: "acc_1", AWSAccountID: "123456789012", Owner: "alice", ExpiresAt: at.Add(time.Hour)}
	n := ovm.NotificationFor(&ovm.Event{Time: at, Kind: ovm.EventLease, AccountID: "acc_1", LeaseID: "lse_1", To: "active"}, a, l)
	if n.Owner != "alice" || n.AWSAccountID != "123456789012" || n.Pool != "p" || !n.ExpiresAt.Equal(l.ExpiresAt) {
		t.Fatalf("lease.created %+v", n)
	}
	n = ovm.NotificationFor(&ovm.Event{Time: at, Kind: ovm.EventAccount, AccountID: "acc_1", From: "closing", To: "quarantined", Reason: "x"}, a, nil)
	if n.LastError != "close: refused" || n.Owner != "" || n.ExpiresAt != nil {
		t.Fatalf("account.quarantined %+v", n)
	}
}

func TestDerivedNotificationsHaveStableIDs(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	l := &ovm.Lease{ID: "lse_1", ExpiresAt: at}
	if a, b := ovm.ExpiringNotification(l), ovm.ExpiringNotification(l.Clone()); a.ID != b.ID {
		t.Fatalf("two ids for one expiry: %s %s", a.ID, b.ID)
	}
	ext := l.Clone()
	ext.ExpiresAt = at.Add(time.Hour)
	if ovm.ExpiringNotification(l).ID == ovm.ExpiringNotification(ext).ID {
		t.Fatal("an extended lease keeps its lease.expiring id")
	}
	if ovm.StockNotification(ovm.NotifyPoolLow, "p", 1, 3, at, at).ID == ovm.StockNotification(ovm.NotifyPoolLow, "p", 1, 3, at.Add(time.Second), at).ID {
		t.Fatal("two falls share an id")
	}
	if ovm.StockNotification(ovm.NotifyPoolLow, "p", 1, 3, at, at).ID != ovm.StockNotification(ovm.NotifyPoolLow, "p", 2, 3, at, at.Add(time.Hour)).ID {
		t.Fatal("one fall, seen at two times (two leaders), has two ids")
	}
	for _, tc := range []struct {
		ready, low int
		want       ovm.NotificationType
	}{{0, 2, ovm.NotifyPoolEmpty}, {1, 2, ovm.NotifyPoolLow}, {2, 2, ""}, {0, 0, ovm.NotifyPoolEmpty}} {
		if got := ovm.StockLevel(tc.ready, tc.low); got != tc.want {
			t.Errorf("ready %d, low %d: %q, want %q", tc.ready, tc.low, got, tc.want)
		}
	}
}
