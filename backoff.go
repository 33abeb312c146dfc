package ovm

import (
	"hash/fnv"
	"strconv"
	"time"
)

// Backoff is the delay before retry number attempts (1 = first retry) under
// p: BaseDelay doubled per attempt, capped at MaxDelay, minus up to 20 %
// jitter derived from seed so that it is a pure function of its inputs.
func Backoff(p RetryPolicy, attempts int, seed string) time.Duration {
	if attempts < 1 {
		return 0
	}
	d := p.BaseDelay
	for i := 1; i < attempts && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	h := fnv.New64a()
	h.Write([]byte(seed))
	h.Write([]byte(strconv.Itoa(attempts)))
	jitter := time.Duration(h.Sum64()%1000) * d / 5000 // 0..20 %
	return d - jitter
}

// NextAttempt is when account a (whose Attempts already counts the failure)
// is tried again under p: a pure function of the record's fields.
func NextAttempt(a *Account, p RetryPolicy, now time.Time) time.Time {
	return now.Add(Backoff(p, a.Attempts, a.ID))
}
