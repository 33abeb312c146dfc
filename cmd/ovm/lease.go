package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

func vendCommand(g *globals) *cobra.Command {
	return clientCommand(g, "vend", "lease an account from the default pool (the seed's GET /vend)", nil,
		func(s *session, _ []string) error {
			v, err := s.c.Vend(s.ctx)
			if err != nil {
				return err
			}
			return s.print(v, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "ACCOUNT\tCROSS ACCOUNT ROLE")
				fmt.Fprintf(w, "%s\t%s\n", v.AccountID, v.CrossAccountRole)
			})
		})
}

func leaseCommand(g *globals) *cobra.Command {
	return group("lease", "create, list, extend and release leases; credentials, console and exec for access",
		leaseCreateCommand(g), leaseListCommand(g),
		clientCommand(g, "get ID", "show one lease", []string{"ID"}, func(s *session, a []string) error {
			l, err := s.c.LeaseGet(s.ctx, a[0])
			if err != nil {
				return err
			}
			return s.print(l, func(w *tabwriter.Writer) {
				leaseTable(*l)(w)
				if sp := l.Spend; sp != nil {
					fmt.Fprintf(w, "\nspend: %.2f USD (estimated %.2f, billed %.2f), burning %.4f USD/h", sp.USD, sp.EstimatedUSD, sp.ReportedUSD, sp.BurnUSDPerHour)
					if len(sp.Unpriced) > 0 {
						fmt.Fprintf(w, "; unpriced: %s", strings.Join(sp.Unpriced, ", "))
					}
					fmt.Fprintln(w)
				}
			})
		}),
		leaseExtendCommand(g), leaseCredentialsCommand(g), leaseConsoleCommand(g), leaseExecCommand(g),
		eventsCommand(g, "the lease's event log, newest first: vend, access issued, extensions, its end",
			func(c *client.Client) func(context.Context, string, url.Values) (*client.Page[client.Event], error) {
				return c.LeaseEvents
			}),
		clientCommand(g, "release ID", "end a lease early; the account goes on to retirement", []string{"ID"}, func(s *session, a []string) error {
			l, err := s.c.LeaseRelease(s.ctx, a[0])
			if err != nil {
				return err
			}
			return s.print(l, leaseTable(*l))
		}))
}

func leaseTable(leases ...client.Lease) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "LEASE\tACCOUNT\tPOOL\tOWNER\tSTATE\tEXPIRES\tROLE\tTEMPLATE")
		for _, l := range leases {
			state := string(l.State)
			if l.EndReason != "" {
				state += " (" + l.EndReason + ")"
			}
			tpl := l.Pool // a lease made before templates: its pool's own
			if l.Template != "" {
				tpl = l.Template
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.AccountID, l.Pool, l.Owner, state, fmtTime(&l.ExpiresAt), l.CrossAccountRole, tpl)
		}
	}
}

type labelFlag map[string]string

func (l labelFlag) String() string { return "" }

func (l labelFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("label %q must be key=value", s)
	}
	if _, dup := l[k]; dup {
		return fmt.Errorf("label %q is given twice", k)
	}
	l[k] = v
	return nil
}

func (l labelFlag) Type() string { return "key=value" }

func leaseCreateCommand(g *globals) *cobra.Command {
	var (
		pool, tpl string
		ttl, wait time.Duration
		labels    = labelFlag{}
	)
	c := clientCommand(g, "create", "lease an account", nil, func(s *session, _ []string) error {
		req := &client.LeaseRequest{Template: tpl, Pool: pool, Wait: client.Duration(wait), Labels: labels}
		if ttl != 0 {
			d := client.Duration(ttl)
			req.TTL = &d
		}
		l, err := s.c.LeaseCreate(s.ctx, req)
		if err != nil {
			return err
		}
		return s.print(l, leaseTable(*l))
	})
	c.Flags().StringVar(&tpl, "template", "", "template: the lease's terms (ovm template list; default: the server's default template)")
	c.Flags().StringVar(&pool, "pool", "", "pool: its own template (default: the server's default template)")
	c.Flags().DurationVar(&ttl, "ttl", 0, "lease duration (default: the pool's default TTL)")
	c.Flags().DurationVar(&wait, "wait", 0, "wait this long for an account when the stock is empty")
	c.Flags().Var(labels, "label", "label key=value (repeatable)")
	return c
}

func leaseListCommand(g *globals) *cobra.Command {
	var f map[string]*string
	var limit *int
	c := clientCommand(g, "list", "list leases (a user key sees its own)", nil, func(s *session, _ []string) error {
		page, err := s.c.LeaseList(s.ctx, query(f, limit))
		if err != nil {
			return err
		}
		return s.print(page, func(w *tabwriter.Writer) {
			leaseTable(page.Items...)(w)
			moreHint(w, page.NextCursor)
		})
	})
	f, limit = listFlags(c, "state", "pool", "owner", "team", "template")
	return c
}

func leaseExtendCommand(g *globals) *cobra.Command {
	var (
		by    time.Duration
		until string
	)
	c := &cobra.Command{Use: "extend ID (--by D | --until RFC3339)", Short: "extend a lease within the pool's max_ttl", Args: exactArgs("ID")}
	c.RunE = func(c *cobra.Command, a []string) error {
		req := &client.ExtendRequest{}
		switch {
		case by != 0 && until == "":
			d := client.Duration(by)
			req.ExtendBy = &d
		case by == 0 && until != "":
			t, err := time.Parse(time.RFC3339, until)
			if err != nil {
				return usagef(c, "--until %q is not RFC 3339 (e.g. 2026-11-25T09:00:00Z)", until)
			}
			req.ExpiresAt = &t
		default:
			return usagef(c, "give exactly one of --by or --until")
		}
		s, err := connect(c, g)
		if err != nil {
			return err
		}
		l, err := s.c.LeaseExtend(s.ctx, a[0], req)
		if err != nil {
			return err
		}
		return s.print(l, leaseTable(*l))
	}
	c.Flags().DurationVar(&by, "by", 0, "extend by this duration")
	c.Flags().StringVar(&until, "until", "", "new expiry, RFC 3339")
	return c
}
