// Package demandtrace generates the demand trace the stock planner's
// auto target is shown with: a week that repeats, with quiet nights, a
// steady weekday trickle, a weekday CI burst at nine, and a workshop on
// Wednesday afternoons. It is deterministic for a seed.
package demandtrace

import (
	"math/rand/v2"
	"sort"
	"time"
)

// Vend is one lease request of the trace.
type Vend struct {
	At  time.Time
	TTL time.Duration
	// Kind is night, day, burst or workshop.
	Kind string
}

// Shape is the trace's week. The zero value is not useful; Default is.
type Shape struct {
	NightPerHour, DayPerHour, WeekendPerHour float64
	// Burst vends arrive within BurstSpan from 09:00 on weekdays.
	Burst     int
	BurstSpan time.Duration
	// Workshop vends arrive within WorkshopSpan from 14:00 on Wednesdays.
	Workshop     int
	WorkshopSpan time.Duration
}

// Default is the week of the replays: about 320 vends.
var Default = Shape{NightPerHour: 0.5, DayPerHour: 3, WeekendPerHour: 1, Burst: 20, BurstSpan: 10 * time.Minute,
	Workshop: 25, WorkshopSpan: 5 * time.Minute}

// Generate returns weeks of s from start (a Monday 00:00), in time order.
func (s Shape) Generate(start time.Time, weeks int, seed uint64) []Vend {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	var out []Vend
	poisson := func(from time.Time, d time.Duration, perHour float64, ttl time.Duration, kind string) {
		if perHour <= 0 {
			return
		}
		t := from
		for {
			t = t.Add(time.Duration(rng.ExpFloat64() / perHour * float64(time.Hour)))
			if !t.Before(from.Add(d)) {
				return
			}
			out = append(out, Vend{At: t, TTL: ttl, Kind: kind})
		}
	}
	spread := func(from time.Time, span time.Duration, n int, ttl time.Duration, kind string) {
		for range n {
			out = append(out, Vend{At: from.Add(time.Duration(rng.Int64N(int64(span)))), TTL: ttl, Kind: kind})
		}
	}
	for day := range weeks * 7 {
		d0 := start.Add(time.Duration(day) * 24 * time.Hour)
		weekday := day%7 < 5
		poisson(d0, 7*time.Hour, s.NightPerHour, 30*time.Minute, "night")
		poisson(d0.Add(22*time.Hour), 2*time.Hour, s.NightPerHour, 30*time.Minute, "night")
		if !weekday {
			poisson(d0.Add(7*time.Hour), 15*time.Hour, s.WeekendPerHour, time.Hour, "day")
			continue
		}
		poisson(d0.Add(7*time.Hour), 15*time.Hour, s.DayPerHour, time.Hour, "day")
		spread(d0.Add(9*time.Hour), s.BurstSpan, s.Burst, 45*time.Minute, "burst")
		if day%7 == 2 {
			spread(d0.Add(14*time.Hour), s.WorkshopSpan, s.Workshop, 3*time.Hour, "workshop")
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// Times returns the vends' times.
func Times(vs []Vend) []time.Time {
	out := make([]time.Time, len(vs))
	for i, v := range vs {
		out[i] = v.At
	}
	return out
}
