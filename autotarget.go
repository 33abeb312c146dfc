package ovm

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// AutoTarget makes a pool's stock target follow demand (stock.target:
// auto): the planner recomputes the target from the pool's lease history.
type AutoTarget struct {
	// Min and Max bound the target.
	Min, Max int
	// HitRatio is the share of vends to serve from stock (default 0.99).
	HitRatio float64
	// Lookback is how much lease history the model reads (default 4 weeks).
	Lookback time.Duration
}

// Week is the period demand is assumed to repeat with.
const Week = 7 * 24 * time.Hour

// The demand model's samples: every sampleStep within sampleSpread of
// this time of the week, in each past week.
const (
	sampleSpread = time.Hour
	sampleStep   = time.Minute
)

// TargetFor decides the stock to keep now. A sample is a stretch of time
// at this time of the week in a past week (and every minute within an
// hour of it: a burst soon is seen before it comes), and the stretch
// that just ended. For each
// sample it asks how much stock would have been needed: the vends of a
// window as long as the lead time (order to ready: a replacement comes no
// sooner), or of a longer window (2, 4, 8, 16 lead times) less what the
// pool can make meanwhile at rate accounts per second (a burst beyond the
// refill rate eats the stock). The target is the least stock in [Min, Max]
// that would have served HitRatio of all that need, and HitRatio of the
// past vends near this time of the week (a vend was served when the stock
// covered it and the vends within a lead time before it). vends are the
// pool's past vend times, in any order. It is pure; why explains the figure.
func (p AutoTarget) TargetFor(vends []time.Time, now time.Time, lead time.Duration, rate float64) (target int, why string) {
	if lead <= 0 {
		lead = time.Minute
	}
	lookback := p.Lookback
	if lookback <= 0 {
		lookback = 4 * Week
	}
	h := p.HitRatio
	if h <= 0 || h > 1 {
		h = 0.99
	}
	ts := slices.Clone(vends)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	count := func(from, to time.Time) int { // vends in [from, to)
		i := sort.Search(len(ts), func(k int) bool { return !ts[k].Before(from) })
		j := sort.Search(len(ts), func(k int) bool { return !ts[k].Before(to) })
		return j - i
	}
	need := func(from time.Time) int {
		n := 0
		for m := 1; m <= 16; m *= 2 {
			l := time.Duration(m) * lead
			made := int(rate * (l - lead).Seconds())
			n = max(n, count(from, from.Add(l))-made)
		}
		return n
	}
	var samples []int
	weeks := 0
	for back := Week; back <= lookback; back += Week {
		weeks++
		for off := -sampleSpread; off <= sampleSpread; off += sampleStep {
			samples = append(samples, need(now.Add(-back+off)))
		}
	}
	// Per vend: a past vend near this time of the week was served if the
	// stock covered it and the vends just before it within a lead time
	// (less what was made meanwhile, for longer stretches).
	var perVend []int
	for back := Week; back <= lookback; back += Week {
		lo := sort.Search(len(ts), func(k int) bool { return !ts[k].Before(now.Add(-back - sampleSpread)) })
		for k := lo; k < len(ts) && !ts[k].After(now.Add(-back+sampleSpread)); k++ {
			v := ts[k].Add(time.Nanosecond) // windows (v-l, v]
			n := 0
			for m := 1; m <= 16; m *= 2 {
				l := time.Duration(m) * lead
				n = max(n, count(v.Add(-l), v)-int(rate*(l-lead).Seconds()))
			}
			perVend = append(perVend, n)
		}
	}
	recent := count(now.Add(-lead), now)
	samples = append(samples, recent)
	total, peak := 0, 0
	for _, d := range samples {
		total += d
		peak = max(peak, d)
	}
	target = p.Min
	if total > 0 {
		// The least s with sum(min(d, s)) >= h * sum(d).
		for s := 0; s <= peak; s++ {
			served := 0
			for _, d := range samples {
				served += min(d, s)
			}
			if float64(served) >= h*float64(total) {
				target = max(s, p.Min)
				break
			}
		}
	}
	if len(perVend) > 0 {
		// The share of vends served is what hit_ratio means: at least the
		// stock that served that share of the past vends.
		slices.Sort(perVend)
		q := int(math.Ceil(h*float64(len(perVend)))) - 1
		target = max(target, perVend[min(max(q, 0), len(perVend)-1)])
	}
	if p.Max > 0 {
		target = min(target, p.Max)
	}
	why = fmt.Sprintf("auto: %d would have served %.1f%% of the need of %d samples (%d past weeks at this time; the last %s had %d vends); lead time %s; bounds %d-%d",
		target, h*100, len(samples), weeks, lead.Round(time.Second), recent, lead.Round(time.Second), p.Min, p.Max)
	return target, why
}

// LeaseStart is when an owner's lease of a pool was made: one vend served.
type LeaseStart struct {
	Owner string
	At    time.Time
}

// Demand is the vend times the demand model counts (TargetFor), from a
// pool's leases and miss counts: every lease, and an owner's misses as one
// waiting owner. An owner's miss counts only if none of that owner's misses
// counted within the lead time before it (a client retrying every second
// waits once, not sixty times a minute), and not at all when that owner got
// a lease within the lead time after it (the retry that was served is one
// vend, already counted by its lease). So a storm of refused vends from one
// key raises the target by one, not by the storm's size. It is pure.
func Demand(leases []LeaseStart, misses []*MissCount, lead time.Duration) []time.Time {
	out := make([]time.Time, 0, len(leases)+len(misses))
	byOwner := map[string][]time.Time{}
	for _, l := range leases {
		out = append(out, l.At)
		byOwner[l.Owner] = append(byOwner[l.Owner], l.At)
	}
	for _, ts := range byOwner {
		slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	}
	ms := slices.Clone(misses)
	slices.SortFunc(ms, func(a, b *MissCount) int { return a.Minute.Compare(b.Minute) })
	last := map[string]time.Time{}
	for _, m := range ms {
		if m.Count <= 0 {
			continue
		}
		if at, ok := last[m.Owner]; ok && m.Minute.Sub(at) < lead {
			continue
		}
		// Served within a lead time (the minute's end plus lead): the
		// lease counts it.
		ls := byOwner[m.Owner]
		i := sort.Search(len(ls), func(k int) bool { return !ls[k].Before(m.Minute) })
		if i < len(ls) && ls[i].Before(m.Minute.Add(time.Minute+lead)) {
			continue
		}
		last[m.Owner] = m.Minute
		out = append(out, m.Minute)
	}
	return out
}
