package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// sampleTests are the cases of samples.
var sampleTests = []testCase{
	{"pool samples keep a day per pool in a ring, oldest first", testPoolSamples},
}

func testPoolSamples(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	start := ovm.SampleBucket(T0)
	// Two days of samples of p1, and one of p2: the ring keeps p1's last day.
	for i := range 2 * ovm.SampleSlots {
		at := start.Add(time.Duration(i) * ovm.SampleInterval)
		if err := s.PoolSamplePut(ctx, &ovm.PoolSample{Pool: "p1", At: at, Ready: i, Target: 7}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PoolSamplePut(ctx, &ovm.PoolSample{Pool: "p2", At: start, Ready: 99, Target: 1}); err != nil {
		t.Fatal(err)
	}
	all, err := s.PoolSampleList(ctx, "p1", time.Time{})
	if err != nil || len(all) != ovm.SampleSlots {
		t.Fatalf("p1 keeps %d samples (%v), want %d", len(all), err, ovm.SampleSlots)
	}
	for i, p := range all {
		want := ovm.SampleSlots + i
		if p.Ready != want || p.Target != 7 || p.Pool != "p1" || !p.At.Equal(start.Add(time.Duration(want)*ovm.SampleInterval)) {
			t.Fatalf("sample %d: %+v, want ready %d at %s", i, p, want, start.Add(time.Duration(want)*ovm.SampleInterval))
		}
	}
	since := start.Add(time.Duration(2*ovm.SampleSlots-3) * ovm.SampleInterval)
	if last, err := s.PoolSampleList(ctx, "p1", since); err != nil || len(last) != 3 || !last[0].At.Equal(since) {
		t.Fatalf("since %s: %v %v", since, last, err)
	}
	if p2, err := s.PoolSampleList(ctx, "p2", time.Time{}); err != nil || len(p2) != 1 || p2[0].Ready != 99 {
		t.Fatalf("p2: %v %v", p2, err)
	}
	if none, err := s.PoolSampleList(ctx, "p3", time.Time{}); err != nil || len(none) != 0 {
		t.Fatalf("a pool without samples: %v %v", none, err)
	}
}
