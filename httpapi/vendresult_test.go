package httpapi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
)

// What a caller can cause alone is never an "error" (the OVMVendErrors
// alert pages on those); AWS refusing a lease's principal is, though its
// answer is a 503 like empty stock.
func TestVendResultsPageOnlyForFailures(t *testing.T) {
	for err, want := range map[error]string{
		nil:                                  "ok",
		fmt.Errorf("vend: %w", ovm.ErrEmpty): "empty",
		ovm.ErrLeaseLimit:                    "limit",
		ovm.Errorf(ovm.EInvalid, "ttl out of range"):                                                  "invalid",
		ovm.Errorf(ovm.ENotFound, "pool %q: %w", "nowhere", ovm.ErrNotFound):                          "invalid",
		ovm.Errorf(ovm.EConflict, "this Idempotency-Key was used for lease l of pool a"):              "conflict",
		engine.RefusedByAWS("trust p in r", &ovm.Error{Code: ovm.EInternal, Message: "AccessDenied"}): "error",
		errors.New("disk I/O error"):                                                                  "error",
	} {
		if got := vendResult(err); got != want {
			t.Errorf("%v: %q, want %q", err, got, want)
		}
	}
}
