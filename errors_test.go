package ovm_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ovmdev/ovm"
)

func TestAWrappedSentinelIsNamedOnce(t *testing.T) {
	err := ovm.Errorf(ovm.ENotFound, "lease %s: %w", "lse_1", ovm.ErrNotFound)
	if got := err.Error(); got != "lease lse_1: not found" {
		t.Errorf("Error() = %q, want the cause once", got)
	}
	if got := ovm.ErrorMessage(fmt.Errorf("get: %w", err)); got != "get: lease lse_1: not found" {
		t.Errorf("ErrorMessage = %q", got)
	}
	if !errors.Is(err, ovm.ErrNotFound) || ovm.ErrorCodeOf(err) != ovm.ENotFound {
		t.Error("the sentinel is lost")
	}
	// A sentinel under a message that says it all is not named again.
	wrapped := fmt.Errorf("lease lse_1 already ended (released): %w", ovm.ErrConflict)
	if got := ovm.ErrorMessage(wrapped); got != "lease lse_1 already ended (released)" {
		t.Errorf("ErrorMessage = %q", got)
	}
	if !errors.Is(wrapped, ovm.ErrConflict) || wrapped.Error() != "lease lse_1 already ended (released): conflict" {
		t.Errorf("the log text changed: %q", wrapped.Error())
	}
	// A cause attached by hand (not formatted into the message) is shown.
	e := &ovm.Error{Code: ovm.EInternal, Message: "write", Err: errors.New("disk full")}
	if e.Error() != "write: disk full" {
		t.Errorf("hand-made error %q", e.Error())
	}
}
