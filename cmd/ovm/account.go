package main

import (
	"context"
	"fmt"
	"net/url"
	"text/tabwriter"

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
		action("retire", "retire a quarantined account", func(c *client.Client) func(context.Context, string) (*client.Account, error) {
			return c.AccountRetire
		}))
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
