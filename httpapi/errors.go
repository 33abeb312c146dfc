package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// statusOf is the one table from domain error codes to HTTP statuses.
var statusOf = map[ovm.ErrorCode]int{
	ovm.EInvalid:          http.StatusBadRequest,
	ovm.EUnauthorized:     http.StatusUnauthorized,
	ovm.EForbidden:        http.StatusForbidden,
	ovm.ENotFound:         http.StatusNotFound,
	ovm.EMethodNotAllowed: http.StatusMethodNotAllowed,
	ovm.EConflict:         http.StatusConflict,
	ovm.EFrozen:           http.StatusConflict,
	ovm.ETooLarge:         http.StatusRequestEntityTooLarge,
	ovm.ELimitExceeded:    http.StatusTooManyRequests,
	ovm.EUnavailable:      http.StatusServiceUnavailable,
	ovm.EInternal:         http.StatusInternalServerError,
}

// writeError answers err as JSON. Internal errors are logged with their
// detail and answered with a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := ovm.ErrorCodeOf(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == ovm.EInternal || !ok {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, ovm.LogError, err)
		code = ovm.EInternal
	}
	var e *ovm.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+999_999_999)/1_000_000_000)))
	}
	var body client.ErrorBody
	body.Error.Code = string(code)
	body.Error.Message = ovm.ErrorMessage(err)
	writeJSON(w, status, body)
}
