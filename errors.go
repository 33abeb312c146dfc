package ovm

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrorCode classifies a domain error. Edges map codes to their own
// vocabulary (httpapi maps each code to one HTTP status in one table).
type ErrorCode string

const (
	EInvalid          ErrorCode = "invalid"            // the request or config is malformed
	EUnauthorized     ErrorCode = "unauthorized"       // no or unknown credentials
	EForbidden        ErrorCode = "forbidden"          // credentials lack the role
	ENotFound         ErrorCode = "not_found"          // no such record or route
	EMethodNotAllowed ErrorCode = "method_not_allowed" // route exists, method does not
	EConflict         ErrorCode = "conflict"           // state or version changed, or duplicate
	EFrozen           ErrorCode = "frozen"             // the lease is frozen: no access until it is unfrozen (a conflict)
	ETooLarge         ErrorCode = "too_large"          // request body over the limit
	ELimitExceeded    ErrorCode = "limit_exceeded"     // a per-owner limit is reached
	EUnavailable      ErrorCode = "unavailable"        // nothing in stock right now; retry later
	EInternal         ErrorCode = "internal"           // a bug or an unreachable dependency
)

// Error is the domain error: a code, a lowercase message that is safe to show
// to a client, and optionally the cause (never shown, only logged).
type Error struct {
	Code    ErrorCode
	Message string
	// RetryAfter hints when a retry may succeed (EUnavailable).
	RetryAfter time.Duration
	// Err is the underlying cause, for logs only.
	Err error
	// inMessage: Message already holds Err's text (Errorf with %w).
	inMessage bool
}

// Error implements error: the message, and the cause when the message does
// not already hold it.
func (e *Error) Error() string {
	if e.Err != nil && !e.inMessage {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) true for any *Error of the same code
// and message as a sentinel.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == e.Message
}

// Errorf returns an *Error with code and a formatted message. A %w verb in
// format wraps the cause.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err), inMessage: true}
}

// Sentinel errors returned by stores; wrap them with context (%w).
var (
	// ErrNotFound: no record with that id.
	ErrNotFound = &Error{Code: ENotFound, Message: "not found"}
	// ErrConflict: the record's state or version is not the expected one,
	// or a unique value is taken. The caller re-reads and decides again.
	ErrConflict = &Error{Code: EConflict, Message: "conflict"}
	// ErrEmpty: the pool has no ready account.
	ErrEmpty = &Error{Code: EUnavailable, Message: "no account in stock"}
	// ErrLeaseLimit: the owner already holds the maximum of active leases.
	ErrLeaseLimit = &Error{Code: ELimitExceeded, Message: "active lease limit reached"}
)

// ErrorCodeOf returns the code of the first *Error in err's chain, EInternal
// for any other non-nil error, and "" for nil.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err: the whole text for
// domain errors, a generic text for internal ones.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) || e.Code == EInternal {
		return "internal error"
	}
	msg := err.Error()
	// ErrConflict wrapped under a message that says what conflicts ("lease
	// x already ended: conflict") adds nothing for the client.
	if e == ErrConflict && msg != e.Message {
		msg = strings.TrimSuffix(msg, ": "+e.Message)
	}
	return msg
}
