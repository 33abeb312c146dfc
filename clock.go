package ovm

import "time"

// Clock tells the time. Everything below cmd/ takes one, so tests can move
// time by hand.
type Clock interface {
	Now() time.Time
}

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now implements Clock.
func (f ClockFunc) Now() time.Time { return f() }

// SystemClock returns the wall clock, in UTC.
func SystemClock() Clock { return ClockFunc(func() time.Time { return time.Now().UTC() }) }
