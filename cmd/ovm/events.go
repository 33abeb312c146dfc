package main

import (
	"context"
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

func eventTable(events ...client.Event) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "TIME\tACTOR\tFROM\tTO\tWHY")
		for _, e := range events {
			from := e.From
			if e.Kind != "account" {
				from = e.Kind + " " + orDash(from)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Actor, orDash(from), e.To, e.Reason)
		}
	}
}

// eventsCommand is `events ID`: a page of an event log, newest first, or
// oldest first with --oldest.
func eventsCommand(g *globals, short string, fn func(*client.Client) func(context.Context, string, url.Values) (*client.Page[client.Event], error)) *cobra.Command {
	var f map[string]*string
	var limit *int
	var oldest *bool
	c := clientCommand(g, "events ID", short, []string{"ID"}, func(s *session, a []string) error {
		q := query(f, limit)
		if *oldest {
			q.Set("order", "oldest")
		}
		page, err := fn(s.c)(s.ctx, a[0], q)
		if err != nil {
			return err
		}
		return s.print(page, func(w *tabwriter.Writer) {
			eventTable(page.Items...)(w)
			moreHint(w, page.NextCursor)
		})
	})
	f, limit = listFlags(c)
	oldest = c.Flags().Bool("oldest", false, "oldest first (a cursor is of the order it came from)")
	return c
}
