package ovm

import "time"

// PoolSample is one point of a pool's recent history: its ready stock and
// target at the start of a SampleInterval. The engine's leader records one
// per pool and interval; the web console charts the last day of them.
//
// Stores keep them in a ring of SampleSlots per pool (SampleSlot), so the
// history is bounded by construction: a sample replaces the one a day
// older in its slot.
type PoolSample struct {
	Pool string `json:"pool"`
	// At is the start of the sample's interval (SampleBucket).
	At     time.Time `json:"at"`
	Ready  int       `json:"ready"`
	Target int       `json:"target"`
}

// The history's resolution and length: a day of ten-minute samples.
const (
	SampleInterval = 10 * time.Minute
	SampleSlots    = 144
)

// SampleBucket is the start of the interval that holds t.
func SampleBucket(t time.Time) time.Time { return t.Truncate(SampleInterval) }

// SampleSlot is the ring slot of the interval that holds t.
func SampleSlot(t time.Time) int {
	return int((t.Unix() / int64(SampleInterval/time.Second)) % SampleSlots)
}
