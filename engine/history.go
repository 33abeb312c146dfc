package engine

import (
	"context"
	"time"

	"github.com/ovmdev/ovm"
)

// HistoryPoint is one sample interval of a pool's last day.
type HistoryPoint struct {
	At time.Time
	// Ready and Target are the sampled stock and target; Sampled is false
	// where no leader recorded a sample (OVM was down, or not yet running).
	Ready, Target int
	Sampled       bool
	// Vends counts the vends asked for in the interval: leases made and
	// vends the stock could not serve.
	Vends int
}

// History returns pool's last day, one point per sample interval, oldest
// first: the samples in the store, and the vends from its lease history.
func (e *Engine) History(ctx context.Context, pool string) ([]HistoryPoint, error) {
	if e.pools[pool] == nil {
		return nil, ovm.Errorf(ovm.ENotFound, "pool %q: %w", pool, ovm.ErrNotFound)
	}
	end := ovm.SampleBucket(e.clock.Now())
	since := end.Add(-time.Duration(ovm.SampleSlots-1) * ovm.SampleInterval)
	samples, err := e.store.PoolSampleList(ctx, pool, since)
	if err != nil {
		return nil, err
	}
	leases, misses, err := e.demandSince(ctx, pool, since)
	if err != nil {
		return nil, err
	}
	out := make([]HistoryPoint, ovm.SampleSlots)
	for i := range out {
		out[i].At = since.Add(time.Duration(i) * ovm.SampleInterval)
	}
	index := func(t time.Time) int { return int(ovm.SampleBucket(t).Sub(since) / ovm.SampleInterval) }
	for _, s := range samples {
		if i := index(s.At); i >= 0 && i < len(out) {
			out[i].Ready, out[i].Target, out[i].Sampled = s.Ready, s.Target, true
		}
	}
	for _, l := range leases {
		if i := index(l.At); i >= 0 && i < len(out) {
			out[i].Vends++
		}
	}
	for _, m := range misses { // every vend asked for, retries too
		if i := index(m.Minute); i >= 0 && i < len(out) {
			out[i].Vends += m.Count
		}
	}
	return out, nil
}
