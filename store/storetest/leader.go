package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// leaderTests are the cases of leader.
var leaderTests = []testCase{
	{"the leader lease has one holder until it expires", testLeader},
	{"a leader lease released by its holder is free at once, by another not", testLeaderRelease},
}

func testLeader(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	acquire := func(holder string, at time.Time) bool {
		t.Helper()
		ok, err := s.LeaderAcquire(ctx, "planner", holder, at, at.Add(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !acquire("a", T0) {
		t.Fatal("a free lease was not taken")
	}
	if acquire("b", T0.Add(5*time.Second)) {
		t.Fatal("b took a's lease before it expired")
	}
	if !acquire("a", T0.Add(8*time.Second)) { // renew: now until T0+18s
		t.Fatal("a could not renew")
	}
	if acquire("b", T0.Add(15*time.Second)) {
		t.Fatal("b took a renewed lease")
	}
	if !acquire("b", T0.Add(19*time.Second)) {
		t.Fatal("b could not take an expired lease")
	}
	if acquire("a", T0.Add(20*time.Second)) {
		t.Fatal("a took the lease back from b")
	}
	if ok, err := s.LeaderAcquire(ctx, "drift", "a", T0.Add(20*time.Second), T0.Add(30*time.Second)); err != nil || !ok {
		t.Fatalf("another lease name: %v %v", ok, err)
	}
	// Many contenders for a free lease: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.LeaderAcquire(ctx, "race", fmt.Sprint("r", i), T0, T0.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d holders of one lease", wins.Load())
	}
}

func testLeaderRelease(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	acquire := func(name, holder string, at time.Time) bool {
		t.Helper()
		ok, err := s.LeaderAcquire(ctx, name, holder, at, at.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	release := func(name, holder string) {
		t.Helper()
		if err := s.LeaderRelease(ctx, name, holder); err != nil {
			t.Fatalf("release %s by %s: %v", name, holder, err)
		}
	}
	release("planner", "a") // never held: a no-op
	if !acquire("planner", "a", T0) || !acquire("drift", "a", T0) {
		t.Fatal("free leases were not taken")
	}
	release("planner", "b") // b does not hold it: nothing changes
	if acquire("planner", "b", T0.Add(time.Second)) {
		t.Fatal("b took a's lease after b's release")
	}
	release("planner", "a")
	if !acquire("planner", "b", T0.Add(2*time.Second)) {
		t.Fatal("b could not take the lease a released")
	}
	if acquire("drift", "b", T0.Add(2*time.Second)) {
		t.Fatal("releasing one lease released another")
	}
	release("planner", "a") // a holds it no more: b keeps it
	if acquire("planner", "a", T0.Add(3*time.Second)) {
		t.Fatal("a's late release freed b's lease")
	}
}
