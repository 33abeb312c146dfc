// Command ovm is the AWS Organizations Vending Machine: `ovm serve` runs the
// API and the workers; the other commands are its command-line client.
//
//	ovm serve [--config FILE] [--listen ADDR] [--data DIR]
//	ovm lease create [--pool P] [--ttl D] [--wait D] [--label k=v]...
//	ovm lease list|get|extend|release
//	ovm pool list|status
//	ovm account list|get|retry|retire
//	ovm key create|list|revoke
//	ovm vend
//
// Client commands read OVM_URL (default http://127.0.0.1:8080) and OVM_TOKEN
// (default: the key in ./ovm-data/admin.key) and print tables, or JSON with
// --output json.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

var errUsage = errors.New("usage")

const usage = `ovm - the AWS Organizations Vending Machine

Server:
  ovm serve [--config FILE] [--listen ADDR] [--data DIR]

Client (OVM_URL, OVM_TOKEN; --output table|json):
  ovm vend                                   lease from the default pool (the seed's GET /vend)
  ovm lease create [--pool P] [--ttl D] [--wait D] [--label k=v]...
  ovm lease list [--state active|ended] [--pool P] [--owner O]
  ovm lease get ID
  ovm lease extend ID (--by D | --until RFC3339)
  ovm lease release ID
  ovm pool list
  ovm pool status NAME
  ovm account list [--state S] [--pool P]
  ovm account get ID                         OVM id or 12-digit AWS id; shows the event log
  ovm account retry ID
  ovm account retire ID
  ovm key create NAME [--role user|admin]
  ovm key list
  ovm key revoke ID

Local:
  ovm secret put NAME [--config FILE | --data DIR] < VALUE   put a secret (card, contact, solver key) into the vault
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:], stdout, stderr)
	case "secret":
		err = secretCmd(args[1:], os.Stdin, stdout, stderr)
	default:
		err = client(args, stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprint(stderr, usage)
		return 2
	default:
		fmt.Fprintln(stderr, "ovm:", err)
		return 1
	}
}
