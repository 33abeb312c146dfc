package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

func poolTable(pools ...client.Pool) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "POOL\tPROVIDER\tREADY\tTARGET\tIN FLIGHT\tLEASED\tCLOSING\tQUARANTINED\tLIVE/CEILING\tCLOSE QUOTA LEFT")
		for _, p := range pools {
			quota := "-"
			if p.CloseQuota != nil {
				quota = fmt.Sprintf("%d/%d per %s", p.CloseQuota.Left, p.CloseQuota.Limit, p.CloseQuota.Window)
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d/%d\t%s\n", p.Name, p.Provider, p.Ready, p.Stock.Target, p.InFlight,
				p.Counts["leased"], p.Counts["closing"], p.Counts["quarantined"], p.Live, p.Stock.Ceiling, quota)
		}
	}
}

func poolCommand(g *globals) *cobra.Command {
	list := clientCommand(g, "list", "list pools", nil, func(s *session, _ []string) error {
		page, err := s.c.PoolList(s.ctx)
		if err != nil {
			return err
		}
		return s.print(page, poolTable(page.Items...))
	})
	list.Example = "  ovm pool list\n  ovm pool list -o name"
	status := clientCommand(g, "status NAME", "one pool's status (admins also see waiting accounts and drift)", []string{"NAME"},
		func(s *session, a []string) error {
			p, err := s.c.PoolGet(s.ctx, a[0])
			if err != nil {
				return err
			}
			return s.print(p, func(w *tabwriter.Writer) { poolStatusTable(w, p) })
		})
	status.Example = "  ovm pool status default\n  ovm pool status default -o json | jq .ready"
	return group("pool", "see pools: stock, in flight, quota", list, status)
}

func poolStatusTable(w *tabwriter.Writer, p *client.Pool) {
	poolTable(*p)(w)
	if p.HeldBack != "" {
		fmt.Fprintf(w, "\nplanner holds back: %s\n", p.HeldBack)
	}
	if len(p.Drift) > 0 {
		fmt.Fprintln(w, "\nDRIFT\tAWS ACCOUNT\tSINCE\tPROBLEM")
		for _, d := range p.Drift {
			fmt.Fprintf(w, "\t%s\t%s\t%s\n", orDash(d.AWSAccountID), fmtTime(&d.Since), d.Problem)
		}
	}
	if len(p.RecentCloses) > 0 {
		fmt.Fprintf(w, "\nclosures in the quota window: %d\n", len(p.RecentCloses))
	}
	if len(p.Waiting) > 0 {
		// Waiting is the step's own word ("creating", "close quota: ..."):
		// STEP, not "waiting for".
		fmt.Fprintln(w, "\nACCOUNT\tSTATE\tSTEP\tLAST ERROR")
		for _, a := range p.Waiting {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.ID, a.State, orDash(a.Waiting), orDash(a.LastError))
		}
	}
}
