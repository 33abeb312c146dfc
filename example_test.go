package ovm_test

import (
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// A transition constructor checks the edge against the table and returns
// the compare-and-set a store applies only if the record did not move.
func ExampleFinishCreating() {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	a := ovm.NewPendingAccount("acc_example", "default", "ovm-acc_example", "ovm+acc_example@example.com", now)
	u, _ := ovm.StartCreating(a, "car-123", now)
	u, _ = ovm.FinishCreating(u.Account, "123456789012", now)
	fmt.Println(u.ExpectState, u.ExpectVersion, "->", u.Account.State, u.Account.Version)
	fmt.Println(u.Event.From, "->", u.Event.To, ":", u.Event.Reason)

	_, err := ovm.FinishCreating(u.Account, "123456789012", now) // bootstrapping cannot be created again
	fmt.Println(ovm.ErrorCodeOf(err))
	// Output:
	// creating 2 -> bootstrapping 3
	// creating -> bootstrapping : aws account 123456789012 created
	// conflict
}

// Backoff is a pure function of the policy, the attempt and the record's id:
// it doubles up to MaxDelay, less a jitter of up to 20 % that spreads retries
// of different accounts but is the same every time for one account.
func ExampleBackoff() {
	p := ovm.RetryPolicy{MaxAttempts: 5, BaseDelay: 10 * time.Second, MaxDelay: time.Minute}
	for attempt := 1; attempt <= 4; attempt++ {
		d := ovm.Backoff(p, attempt, "acc_example")
		fmt.Println(attempt, d.Round(time.Second))
	}
	// Output:
	// 1 9s
	// 2 19s
	// 3 32s
	// 4 51s
}
