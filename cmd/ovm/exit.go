package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/ovmdev/ovm/client"
)

// The exit codes of the client commands, distinct per kind of failure so a
// script can tell them apart; the API's error answers map to them by HTTP
// status (docs/api.md, "Errors"). `ovm --help` and docs/cli.md list them.
const (
	exitOK          = 0
	exitError       = 1 // anything else: an internal error, a failed command
	exitUsage       = 2 // the command line, or a request the server found invalid (400)
	exitNotFound    = 3 // no such lease, account, pool, key... (404)
	exitConflict    = 4 // the state changed, a duplicate, or a limit is reached (409, 429)
	exitUnavailable = 5 // no account in stock (503), or no server answers at the URL
	exitDenied      = 6 // no key, an unknown key, or a key without the role (401, 403)
)

// exitCodesHelp is the table of exit codes in `ovm --help`.
const exitCodesHelp = `Exit codes:
  0  success
  1  any other error
  2  usage: a bad command line, or a request the server refused as invalid (400)
  3  not found (404)
  4  conflict or limit: the state changed, a duplicate, a lease limit (409, 429)
  5  unavailable: no account in stock (503), or no server at the URL
  6  denied: no key, an unknown key, or a key without the role (401, 403)
  ovm lease exec exits with its command's status.`

// exitCodeOf classifies err: the exit code and a code word for -o json.
func exitCodeOf(err error) (int, string) {
	var (
		ue *usageError
		ae *client.APIError
		ce *cliError
	)
	switch {
	case errors.As(err, &ce):
		return ce.exit, ce.code
	case errors.As(err, &ue):
		return exitUsage, "usage"
	case errors.As(err, &ae):
		switch ae.Status {
		case http.StatusBadRequest:
			return exitUsage, ae.Code
		case http.StatusNotFound:
			return exitNotFound, ae.Code
		case http.StatusConflict, http.StatusTooManyRequests:
			return exitConflict, ae.Code
		case http.StatusServiceUnavailable:
			return exitUnavailable, ae.Code
		case http.StatusUnauthorized, http.StatusForbidden:
			return exitDenied, ae.Code
		}
		return exitError, ae.Code
	case errors.Is(err, errNoKey):
		return exitDenied, "unauthorized"
	case unreachable(err):
		return exitUnavailable, "unreachable"
	}
	return exitError, "error"
}

// unreachable reports whether err is a server that could not be reached:
// a refused connection or an unknown host.
func unreachable(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr)
}

// errorText is err as the one line a person reads, with the next step when
// the server could not be reached.
func errorText(err error, g *globals) string {
	var ue *usageError
	if errors.As(err, &ue) {
		return ue.Error()
	}
	return "ovm: " + err.Error() + nextStep(err, g)
}

// nextStep is what to do about err, when there is something to say.
func nextStep(err error, g *globals) string {
	if unreachable(err) {
		return fmt.Sprintf("\n  no OVM server answers at %s: is `ovm serve` running? Set OVM_URL or --url to its address", g.baseURL())
	}
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return fmt.Sprintf("\n  the server at %s does not know this key: is OVM_TOKEN (or --token) a key of this server (its first admin key is in its <data>/admin.key)?", g.baseURL())
	}
	return ""
}

// writeError reports err on stderr: one line (and a hint), or under
// -o json the same shape as the API's errors plus the exit code.
func writeError(w io.Writer, err error, g *globals) int {
	code, word := exitCodeOf(err)
	if g.output != "json" {
		fmt.Fprintln(w, errorText(err, g))
		return code
	}
	var body struct {
		Error struct {
			Code     string `json:"code"`
			Message  string `json:"message"`
			ExitCode int    `json:"exit_code"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.ExitCode = word, code
	var ae *client.APIError
	if errors.As(err, &ae) {
		body.Error.Message = ae.Message
	} else {
		body.Error.Message = err.Error() + nextStep(err, g)
	}
	b, _ := json.Marshal(body)
	fmt.Fprintln(w, string(b))
	return code
}

// cliError is a failure the CLI finds itself, with its exit code and code
// word (e.g. no active lease holds an AWS account id).
type cliError struct {
	exit int
	code string
	msg  string
}

func (e *cliError) Error() string { return e.msg }
