package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

// vendAnswer is what `ovm vend` prints: the seed's answer, the lease it
// made and the command that ends it.
type vendAnswer struct {
	LeaseID          string `json:"lease_id"`
	AccountID        string `json:"account_id"`
	CrossAccountRole string `json:"cross_account_role"`
	Release          string `json:"release_command"`
}

func vendCommand(g *globals) *cobra.Command {
	c := clientCommand(g, "vend", "lease an account from the default pool (the seed's GET /vend); prints the lease id", nil,
		func(s *session, _ []string) error {
			v, err := s.c.Vend(s.ctx)
			if err != nil {
				return err
			}
			a := vendAnswer{LeaseID: v.LeaseID, AccountID: v.AccountID, CrossAccountRole: v.CrossAccountRole, Release: releaseHint(v.LeaseID)}
			return s.print(a, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "LEASE\tACCOUNT\tCROSS ACCOUNT ROLE")
				fmt.Fprintf(w, "%s\t%s\t%s\n", a.LeaseID, a.AccountID, a.CrossAccountRole)
				fmt.Fprintf(w, "\nrelease it: %s\n", a.Release)
			})
		})
	c.Example = `  ovm vend
  ovm vend -o json | jq -r .lease_id
  ovm lease release "$(ovm vend -o name)"`
	return c
}

func leaseCommand(g *globals) *cobra.Command {
	events := eventsCommand(g, "the lease's event log, newest first: vend, access issued, extensions, its end",
		func(c *client.Client) func(context.Context, string, url.Values) (*client.Page[client.Event], error) {
			return c.LeaseEvents
		})
	events.Example = "  ovm lease events lse_0123456789abcdef\n  ovm lease events lse_0123456789abcdef --oldest -o json"
	return group("lease", "create, list, extend and release leases; credentials, console and exec for access",
		leaseCreateCommand(g), leaseListCommand(g),
		leaseArg(g, "get", "show one lease", `  ovm lease get lse_0123456789abcdef
  ovm lease get 129172902526            # the active lease of this AWS account
  ovm lease get lse_0123456789abcdef -o yaml`, func(s *session, id string) error {
			l, err := s.c.LeaseGet(s.ctx, id)
			if err != nil {
				return err
			}
			return s.print(l, func(w *tabwriter.Writer) {
				leaseTable(*l)(w)
				if sp := l.Spend; sp != nil {
					fmt.Fprintf(w, "\nspend: %.2f USD (estimated %.2f, reported by AWS %.2f), burning %.4f USD/h", sp.USD, sp.EstimatedUSD, sp.ReportedUSD, sp.BurnUSDPerHour)
					if len(sp.Unpriced) > 0 {
						fmt.Fprintf(w, "; unpriced: %s", strings.Join(sp.Unpriced, ", "))
					}
					fmt.Fprintln(w)
				}
				printBudget(w, l)
			})
		}),
		leaseExtendCommand(g), leaseCredentialsCommand(g), leaseConsoleCommand(g), leaseExecCommand(g), events,
		leaseFreezeCommand(g), leaseArg(g, "unfreeze", "give a frozen lease its access back (an admin)", `  ovm lease unfreeze lse_0123456789abcdef
  ovm lease budget lse_0123456789abcdef 80 && ovm lease unfreeze lse_0123456789abcdef   # raise its budget first`,
			func(s *session, id string) error {
				l, err := s.c.LeaseUnfreeze(s.ctx, id)
				if err != nil {
					return err
				}
				return s.print(l, leaseTable(*l))
			}),
		leaseBudgetCommand(g),
		leaseArg(g, "release", "end a lease early; the account goes on to retirement", `  ovm lease release lse_0123456789abcdef
  ovm lease release 129172902526        # the active lease of this AWS account`, func(s *session, id string) error {
			l, err := s.c.LeaseRelease(s.ctx, id)
			if err != nil {
				return err
			}
			return s.print(l, leaseTable(*l))
		}))
}

func leaseTable(leases ...client.Lease) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "LEASE\tACCOUNT\tPOOL\tOWNER\tSTATE\tEXPIRES\tROLE\tTEMPLATE\tLABELS")
		for _, l := range leases {
			state := string(l.State)
			if l.EndReason != "" {
				state += " (" + l.EndReason + ")"
			}
			tpl := l.Pool // a lease made before templates: its pool's own
			if l.Template != "" {
				tpl = l.Template
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.AccountID, l.Pool, l.Owner, state, leaseExpires(l), l.CrossAccountRole, tpl,
				fmtLabels(l.Labels))
		}
	}
}

// leaseExpires is the EXPIRES column: an ended lease expires no more, so
// it shows when it ended.
func leaseExpires(l client.Lease) string {
	if l.State == ovm.LeaseEnded {
		if l.EndedAt == nil {
			return "-"
		}
		return "ended " + fmtTime(l.EndedAt)
	}
	return fmtTime(&l.ExpiresAt)
}

// fmtLabels is labels as k=v,k=v in key order, or "-".
func fmtLabels(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	for i, k := range keys {
		keys[i] = k + "=" + labels[k]
	}
	return orDash(strings.Join(keys, ","))
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
		budget    float64
	)
	c := clientCommand(g, "create", "lease an account", nil, func(s *session, _ []string) error {
		if budget != 0 && (math.IsNaN(budget) || math.IsInf(budget, 0) || budget < 0.01) {
			return &usageError{cmd: "ovm lease create", msg: fmt.Sprintf("--budget %v must be a number of at least 0.01", budget)}
		}
		req := &client.LeaseRequest{Template: tpl, Pool: pool, Wait: client.Duration(wait), Labels: labels, BudgetUSD: budget}
		if ttl != 0 {
			d := client.Duration(ttl)
			req.TTL = &d
		}
		l, err := s.c.LeaseCreate(s.ctx, req)
		if err != nil {
			return err
		}
		return printMade(s, l)
	})
	c.Example = `  ovm lease create
  ovm lease create --ttl 2h --wait 1m --label team=platform
  ovm lease create --template sandbox -o name     # the lease id only, for scripts`
	c.Flags().StringVar(&tpl, "template", "", "template: the lease's terms (ovm template list; default: the server's default template)")
	c.Flags().StringVar(&pool, "pool", "", "pool: its own template (default: the server's default template)")
	c.Flags().DurationVar(&ttl, "ttl", 0, "lease duration (default: the pool's default TTL)")
	c.Flags().DurationVar(&wait, "wait", 0, "wait this long for an account when the stock is empty")
	c.Flags().Var(labels, "label", "label key=value (repeatable)")
	c.Flags().Float64Var(&budget, "budget", 0, "a lower budget limit in USD than the template's (when its budget lets lessees lower it)")
	return c
}

// printMade prints a lease just made and the command that releases it: after
// the table, or on stderr beside JSON or YAML (the answer stays the lease's).
func printMade(s *session, l *client.Lease) error {
	if s.output == "json" || s.output == "yaml" {
		fmt.Fprintf(s.errOut, "ovm: lease %s made; release it: %s\n", l.ID, releaseHint(l.ID))
	}
	return s.print(l, func(w *tabwriter.Writer) {
		leaseTable(*l)(w)
		fmt.Fprintf(w, "\nrelease it: %s\n", releaseHint(l.ID))
	})
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
	c.Example = `  ovm lease list --state active
  ovm lease list --team platform -o json
  ovm lease list --state active -o name | xargs -n1 ovm lease release`
	return c
}

func leaseExtendCommand(g *globals) *cobra.Command {
	var (
		by    time.Duration
		until string
	)
	c := &cobra.Command{Use: "extend LEASE (--by D | --until RFC3339)", Short: "extend a lease within the pool's max_ttl",
		Long: "Extends a lease within the pool's max_ttl.\n\n" + leaseArgHelp,
		Args: exactArgs("LEASE"),
		Example: `  ovm lease extend lse_0123456789abcdef --by 2h
  ovm lease extend 129172902526 --until 2026-11-25T09:00:00Z`}
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
		id, err := resolveLease(s, a[0])
		if err != nil {
			return err
		}
		l, err := s.c.LeaseExtend(s.ctx, id, req)
		if err != nil {
			return err
		}
		return s.print(l, leaseTable(*l))
	}
	c.Flags().DurationVar(&by, "by", 0, "extend by this duration")
	c.Flags().StringVar(&until, "until", "", "new expiry, RFC 3339")
	return c
}
