package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// resolveLease turns the argument of a lease command into a lease id: a
// 12-digit AWS account id names the one active lease that holds it (among
// those the key may see); anything else is a lease id as given.
func resolveLease(s *session, arg string) (string, error) {
	if !awsAccountID.MatchString(arg) {
		return arg, nil
	}
	var held []string
	q := url.Values{"state": {"active"}, "limit": {"1000"}}
	for {
		page, err := s.c.LeaseList(s.ctx, q)
		if err != nil {
			return "", err
		}
		for _, l := range page.Items {
			if l.AccountID == arg {
				held = append(held, l.ID)
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	switch len(held) {
	case 1:
		return held[0], nil
	case 0:
		return "", &cliError{exit: exitNotFound, code: "not_found",
			msg: fmt.Sprintf("no active lease you can see holds AWS account %s (see ovm lease list --state active); give a lease id for an ended lease", arg)}
	}
	return "", &cliError{exit: exitConflict, code: "ambiguous",
		msg: fmt.Sprintf("AWS account %s is held by %d active leases (%s): give a lease id", arg, len(held), strings.Join(held, ", "))}
}

// leaseArg is a lease command taking one lease (id or AWS account id):
// body gets the resolved lease id.
func leaseArg(g *globals, use, short, example string, body func(s *session, id string) error) *cobra.Command {
	c := clientCommand(g, use+" LEASE", short, []string{"LEASE"},
		func(s *session, a []string) error {
			id, err := resolveLease(s, a[0])
			if err != nil {
				return err
			}
			return body(s, id)
		})
	c.Example = example
	c.Long = strings.ToUpper(short[:1]) + short[1:] + ".\n\n" + leaseArgHelp
	return c
}

// leaseArgHelp says what LEASE may be, in the help of each lease command.
const leaseArgHelp = `LEASE is a lease id (lse_...), or the 12-digit AWS account id of the one active
lease, among those your key may see, that holds it.`

// releaseHint is the command that ends lease id.
func releaseHint(id string) string { return "ovm lease release " + id }
