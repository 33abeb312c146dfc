package engine

import (
	"strings"
	"testing"
	"time"
)

func TestAMissPromisesAnAccountOnlyWhenOneIsComing(t *testing.T) {
	cases := []struct {
		name      string
		o         Outlook
		want, not string
	}{
		{"refilling: an expected time",
			Outlook{Reason: "refilling: ordering 1 account(s) now", RetryAfter: 6 * time.Second},
			"expect one in about 6s", "operator"},
		{"quarantined accounts at the ceiling: no promise, an operator must act",
			Outlook{Reason: "no account is being made: ceiling of 3 live accounts reached, 3 of them quarantined", RetryAfter: quarantineRetryAfter, WaitsForOperator: true},
			"none comes until an operator acts", "expect one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := missMessage("default", "", c.o)
			if !strings.Contains(m, c.want) || strings.Contains(m, c.not) {
				t.Fatalf("%q: want %q, not %q", m, c.want, c.not)
			}
		})
	}
}
