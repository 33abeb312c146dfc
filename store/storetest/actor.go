package storetest

import (
	"context"
	"testing"

	"github.com/ovmdev/ovm"
)

// actorTests are the cases of who an event names.
var actorTests = []testCase{
	{"a vend names its owner as a key or as a token (ovm.OwnerActor)", testVendActor},
}

func testVendActor(t *testing.T, s ovm.Store) {
	for owner, want := range map[string]string{"alice": "key:alice", "my-org/app": "oidc:my-org/app"} {
		Ready(t, s, "p1", T0)
		l, err := vend(s, "p1", owner, T0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*ovm.EventListParams{{LeaseID: l.ID}, {AccountID: l.AccountID}} {
			ev, _, err := s.EventList(context.Background(), p)
			if err != nil || len(ev) == 0 {
				t.Fatalf("events %+v: %v", p, err)
			}
			if last := ev[len(ev)-1]; last.Actor != want {
				t.Errorf("the vend to %s is an event by %q, want %q", owner, last.Actor, want)
			}
		}
	}
}
