package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

// The delivery commands: the notification outbox, for operators.

func deliveryTable(ds ...client.Delivery) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tTYPE\tSTATE\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
		for _, d := range ds {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Type, d.State, d.Attempts, fmtTime(d.NextAttemptAt), orDash(d.LastError))
		}
	}
}

func deliveryCommand(g *globals) *cobra.Command {
	var f map[string]*string
	var limit *int
	list := clientCommand(g, "list", "list notification deliveries, e.g. --state failed (admin)", nil, func(s *session, _ []string) error {
		page, err := s.c.DeliveryList(s.ctx, query(f, limit))
		if err != nil {
			return err
		}
		return s.print(page, func(w *tabwriter.Writer) {
			deliveryTable(page.Items...)(w)
			moreHint(w, page.NextCursor)
		})
	})
	f, limit = listFlags(list, "state")
	list.Example = "  ovm delivery list --state failed\n  ovm delivery list -o json"
	get := clientCommand(g, "get ID", "show one delivery and its targets (admin)", []string{"ID"}, func(s *session, a []string) error {
		d, err := s.c.DeliveryGet(s.ctx, a[0])
		if err != nil {
			return err
		}
		return s.print(d, deliveryTable(*d))
	})
	get.Example = "  ovm delivery get dlv_0123456789abcdef\n  ovm delivery get dlv_0123456789abcdef -o json"
	retry := clientCommand(g, "retry ID", "send a failed delivery again (admin)", []string{"ID"}, func(s *session, a []string) error {
		d, err := s.c.DeliveryRetry(s.ctx, a[0])
		if err != nil {
			return err
		}
		return s.print(d, deliveryTable(*d))
	})
	retry.Example = "  ovm delivery retry dlv_0123456789abcdef\n  ovm delivery list --state failed -o name | xargs -n1 ovm delivery retry"
	return group("delivery", "see and resend notification deliveries (admin)", list, get, retry)
}
