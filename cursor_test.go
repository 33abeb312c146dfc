package ovm_test

import (
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
)

func TestACursorReadsBackOnlyInItsOwnList(t *testing.T) {
	c := ovm.EncodeCursor(ovm.CursorLeases, "lse_01")
	if after, err := ovm.DecodeCursor(ovm.CursorLeases, c); err != nil || after != "lse_01" {
		t.Fatalf("round trip: %q %v", after, err)
	}
	for name, bad := range map[string]struct {
		kind ovm.CursorKind
		c    string
	}{
		"garbage":                {ovm.CursorLeases, "garbage"},
		"not base64":             {ovm.CursorLeases, "!!"},
		"base64 of plain text":   {ovm.CursorLeases, "bHNlXzAx"},
		"another list's cursor":  {ovm.CursorAccounts, c},
		"a cursor of no version": {ovm.CursorLeases, "eyJrIjoibGVhc2VzIiwiYSI6ImxzZV8wMSJ9"},
		"a cursor with no key":   {ovm.CursorLeases, ovm.EncodeCursor(ovm.CursorLeases, "")},
	} {
		_, err := ovm.DecodeCursor(bad.kind, bad.c)
		if ovm.ErrorCodeOf(err) != ovm.EInvalid || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("%s: %v, want an invalid-cursor error", name, err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add("garbage")
	f.Add(ovm.EncodeCursor(ovm.CursorEvents, "42"))
	f.Fuzz(func(t *testing.T, c string) {
		after, err := ovm.DecodeCursor(ovm.CursorEvents, c)
		if err != nil {
			if ovm.ErrorCodeOf(err) != ovm.EInvalid {
				t.Fatalf("%q: error code %s", c, ovm.ErrorCodeOf(err))
			}
			return
		}
		if again, err := ovm.DecodeCursor(ovm.CursorEvents, ovm.EncodeCursor(ovm.CursorEvents, after)); err != nil || again != after {
			t.Fatalf("%q: %q does not round-trip", c, after)
		}
	})
}
