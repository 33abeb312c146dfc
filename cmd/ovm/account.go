package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

func accountTable(accts ...client.Account) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tACCOUNT\tPOOL\tSTATE\tGEN\tCREATED\tLAST ERROR")
		for _, a := range accts {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.ID, orDash(a.AccountID), a.Pool, a.State, a.Generation,
				fmtTime(&a.CreatedAt), orDash(a.LastError))
		}
	}
}

func accountCommand(g *globals) *cobra.Command {
	action := func(name, short string, fn func(*client.Client) func(context.Context, string) (*client.Account, error)) *cobra.Command {
		c := clientCommand(g, name+" ID", short, []string{"ID"}, func(s *session, a []string) error {
			acct, err := fn(s.c)(s.ctx, a[0])
			if err != nil {
				return err
			}
			return s.print(acct, accountTable(*acct))
		})
		c.Example = "  ovm account " + name + " acc_0123456789abcdef\n  ovm account " + name + " 129172902526"
		return c
	}
	var f map[string]*string
	var limit *int
	list := clientCommand(g, "list", "list accounts (admin)", nil, func(s *session, _ []string) error {
		page, err := s.c.AccountList(s.ctx, query(f, limit))
		if err != nil {
			return err
		}
		return s.print(page, func(w *tabwriter.Writer) {
			accountTable(page.Items...)(w)
			moreHint(w, page.NextCursor)
		})
	})
	f, limit = listFlags(list, "state", "pool")
	list.Example = `  ovm account list --state quarantined
  ovm account list --pool default -o json
  ovm account list --state quarantined -o name | xargs -n1 ovm account retry`
	get := clientCommand(g, "get ID", "one account and its event log (OVM id or 12-digit AWS id; admin)", []string{"ID"},
		func(s *session, a []string) error {
			acct, err := s.c.AccountGet(s.ctx, a[0])
			if err != nil {
				return err
			}
			return s.print(acct, func(w *tabwriter.Writer) { accountDetail(w, acct) })
		})
	get.Example = "  ovm account get 129172902526\n  ovm account get acc_0123456789abcdef -o json"
	events := eventsCommand(g, "the account's whole event log, newest first, its leases' too (admin)",
		func(c *client.Client) func(context.Context, string, url.Values) (*client.Page[client.Event], error) {
			return c.AccountEvents
		})
	events.Example = "  ovm account events 129172902526\n  ovm account events acc_0123456789abcdef --oldest --limit 20"
	return group("account", "see and act on accounts (admin)", list, get, events,
		action("retry", "retry a quarantined account's failed step", func(c *client.Client) func(context.Context, string) (*client.Account, error) { return c.AccountRetry }),
		retireCommand(g))
}

// retireCommand retires a quarantined account, or a ready one after a
// confirmation (it takes an account out of stock for good): --yes gives
// it, or the answer "yes" on standard input.
func retireCommand(g *globals) *cobra.Command {
	var yes bool
	c := clientCommand(g, "retire ID", "retire a quarantined or ready account: it is closed (asks first for a ready one)", []string{"ID"},
		func(s *session, a []string) error {
			acct, err := s.c.AccountGet(s.ctx, a[0])
			if err != nil {
				return err
			}
			if acct.State == ovm.AccountReady && !yes {
				fmt.Fprintf(s.errOut, "account %s (%s) is ready: in stock, leasable now. Retiring it closes it for good. Type yes to go on: ",
					acct.ID, orDash(acct.AccountID))
				line, _ := bufio.NewReader(s.in).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					return &cliError{exit: exitUsage, code: "not_confirmed", msg: "not retired: a ready account is retired only when confirmed (--yes)"}
				}
			}
			acct, err = s.c.AccountRetire(s.ctx, acct.ID)
			if err != nil {
				return err
			}
			return s.print(acct, accountTable(*acct))
		})
	c.Long = "Retires an account: a quarantined one (automation gave up on it), or a ready one (in stock), which it\ntakes out of stock for good: it asks first, unless --yes. The account is closed (or abandoned if no AWS\naccount exists)."
	c.Example = `  ovm account retire acc_0123456789abcdef
  ovm account retire 129172902526 --yes      # a ready account, without the question`
	c.Flags().BoolVar(&yes, "yes", false, "retire a ready account without asking")
	return c
}

func accountDetail(w *tabwriter.Writer, a *client.Account) {
	accountTable(*a)(w)
	fmt.Fprintf(w, "\nrole: %s\nemail: %s\n", orDash(a.CrossAccountRole), a.Email)
	if a.Waiting != "" {
		fmt.Fprintf(w, "step: %s\n", a.Waiting)
	}
	fmt.Fprintln(w, "\nevents, newest first:")
	eventTable(a.Events...)(w)
	if a.EventsNextCursor != "" {
		fmt.Fprintf(w, "(older: ovm account events %s --cursor %s)\n", a.ID, a.EventsNextCursor)
	}
}
