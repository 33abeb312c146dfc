package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

// printBudget adds a lease's budget and freeze to its table.
func printBudget(w *tabwriter.Writer, l *client.Lease) {
	if f := l.Frozen; f != nil {
		fmt.Fprintf(w, "frozen: since %s by %s: %s\n", fmtTime(&f.At), f.Actor, f.Reason)
	}
	b := l.Budget
	if b == nil {
		return
	}
	var th []string
	for _, t := range b.Thresholds {
		th = append(th, t.At+" "+t.Action)
	}
	fmt.Fprintf(w, "budget: %.2f USD, projected %.2f USD", b.LimitUSD, b.ProjectedUSD)
	if b.Project != 0 {
		fmt.Fprintf(w, " (%s ahead)", time.Duration(b.Project))
	}
	fmt.Fprintf(w, "; thresholds: %s\n", strings.Join(th, ", "))
	for _, a := range b.Acted {
		fmt.Fprintf(w, "  %s %s at %s: spend %.2f USD, projected %.2f of %.2f USD\n", a.At, a.Action, fmtTime(&a.Time), a.SpendUSD, a.ProjectedUSD, a.LimitUSD)
	}
}

func leaseFreezeCommand(g *globals) *cobra.Command {
	var (
		reason string
		stop   bool
	)
	c := leaseArg(g, "freeze", "freeze a lease (an admin): it stays held and gives no access until unfrozen", `  ovm lease freeze lse_0123456789abcdef --reason "runaway GPU spend"
  ovm lease freeze 129172902526 --stop    # also stop its EC2 and RDS instances`,
		func(s *session, id string) error {
			l, err := s.c.LeaseFreeze(s.ctx, id, &client.FreezeRequest{Reason: reason, Stop: stop})
			if err != nil {
				return err
			}
			return s.print(l, leaseTable(*l))
		})
	c.Flags().StringVar(&reason, "reason", "", "why (kept in the lease's events)")
	c.Flags().BoolVar(&stop, "stop", false, "also stop what keeps billing where OVM can (EC2 and RDS instances; docs/budgets.md)")
	return c
}

func leaseBudgetCommand(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "budget LEASE USD", Short: "set a lease's budget limit (an admin)",
		Long: "Sets a lease's budget limit, in USD (an admin). A raised limit arms its thresholds again; the lease's events\nrecord the change.\n\n" + leaseArgHelp,
		Args: exactArgs("LEASE", "USD"),
		Example: `  ovm lease budget lse_0123456789abcdef 80
  ovm lease budget 129172902526 120 -o json`}
	c.RunE = func(c *cobra.Command, a []string) error {
		usd, err := strconv.ParseFloat(a[1], 64)
		if err != nil || math.IsNaN(usd) || math.IsInf(usd, 0) || usd < 0.01 {
			return usagef(c, "USD %q must be a number of at least 0.01 (80, 12.5)", a[1])
		}
		s, err := connect(c, g)
		if err != nil {
			return err
		}
		id, err := resolveLease(s, a[0])
		if err != nil {
			return err
		}
		l, err := s.c.LeaseSetBudget(s.ctx, id, usd)
		if err != nil {
			return err
		}
		return s.print(l, func(w *tabwriter.Writer) {
			leaseTable(*l)(w)
			printBudget(w, l)
		})
	}
	return c
}
