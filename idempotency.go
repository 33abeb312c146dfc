package ovm

import "time"

// IdempotencyWindow is how long a vend's idempotency key is kept: the same
// key from the same owner within it returns the first vend's lease instead
// of making a second one (a client that lost the answer and retries).
const IdempotencyWindow = 24 * time.Hour

// MaxIdempotencyKey is the longest idempotency key accepted.
const MaxIdempotencyKey = 255

// CheckIdempotencyKey validates an Idempotency-Key: 1 to 255 visible ASCII
// characters (a UUID is typical). The message never repeats the key.
func CheckIdempotencyKey(k string) error {
	if k == "" || len(k) > MaxIdempotencyKey {
		return Errorf(EInvalid, "an Idempotency-Key is 1 to %d characters", MaxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return Errorf(EInvalid, "an Idempotency-Key is visible ASCII characters only (a UUID is typical)")
		}
	}
	return nil
}
