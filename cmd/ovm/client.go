package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

// The client commands: each builds its request, calls the API through
// client.Client and prints a table, or JSON with --output json.

// session is one client command's connection and output.
type session struct {
	c      *client.Client
	out    io.Writer
	errOut io.Writer
	json   bool
	ctx    context.Context
}

// checkOutput validates --output.
func checkOutput(c *cobra.Command, g *globals) error {
	if g.output != "table" && g.output != "json" {
		return usagef(c, "--output %q must be table or json", g.output)
	}
	return nil
}

// connect makes c's session from the global flags and the environment.
func connect(c *cobra.Command, g *globals) (*session, error) {
	if err := checkOutput(c, g); err != nil {
		return nil, err
	}
	token, err := clientToken()
	if err != nil {
		return nil, err
	}
	base := g.url
	if base == "" {
		base = envOr("OVM_URL", "http://127.0.0.1:8080")
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef(c, "the server URL %q (--url or OVM_URL) is not an http(s) URL", base)
	}
	return &session{c: &client.Client{BaseURL: base, Token: token}, out: c.OutOrStdout(), errOut: c.ErrOrStderr(), json: g.output == "json",
		ctx: c.Context()}, nil
}

// clientCommand is a client command: body runs with a session.
func clientCommand(g *globals, use, short string, args []string, body func(s *session, args []string) error) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: exactArgs(args...),
		RunE: func(c *cobra.Command, a []string) error {
			s, err := connect(c, g)
			if err != nil {
				return err
			}
			return body(s, a)
		}}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// clientToken is OVM_TOKEN, or the key in ./ovm-data/admin.key.
func clientToken() (string, error) {
	if t := strings.TrimSpace(os.Getenv("OVM_TOKEN")); t != "" {
		return t, nil
	}
	b, err := os.ReadFile(filepath.Join("ovm-data", "admin.key"))
	if err != nil {
		return "", fmt.Errorf("no API key: set OVM_TOKEN (or run from the directory holding ovm-data/admin.key)")
	}
	return strings.TrimSpace(string(b)), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// print writes v as JSON, or as a table made by table.
func (s *session) print(v any, table func(w *tabwriter.Writer)) error {
	if s.json {
		return printJSON(s.out, v)
	}
	w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

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

func group(use, short string, cmds ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short}
	c.AddCommand(cmds...)
	return c
}

func leaseCommand(g *globals) *cobra.Command {
	return group("lease", "create, list, extend and release leases; credentials, console and exec for access",
		leaseCreateCommand(g), leaseListCommand(g),
		clientCommand(g, "get ID", "show one lease", []string{"ID"}, func(s *session, a []string) error {
			l, err := s.c.LeaseGet(s.ctx, a[0])
			if err != nil {
				return err
			}
			return s.print(l, leaseTable(*l))
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
		fmt.Fprintln(w, "LEASE\tACCOUNT\tPOOL\tOWNER\tSTATE\tEXPIRES\tROLE")
		for _, l := range leases {
			state := string(l.State)
			if l.EndReason != "" {
				state += " (" + l.EndReason + ")"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.AccountID, l.Pool, l.Owner, state, fmtTime(&l.ExpiresAt), l.CrossAccountRole)
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
		pool      string
		ttl, wait time.Duration
		labels    = labelFlag{}
	)
	c := clientCommand(g, "create", "lease an account", nil, func(s *session, _ []string) error {
		req := &client.LeaseRequest{Pool: pool, Wait: client.Duration(wait), Labels: labels}
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
	c.Flags().StringVar(&pool, "pool", "", "pool (default: the server's default pool)")
	c.Flags().DurationVar(&ttl, "ttl", 0, "lease duration (default: the pool's default TTL)")
	c.Flags().DurationVar(&wait, "wait", 0, "wait this long for an account when the stock is empty")
	c.Flags().Var(labels, "label", "label key=value (repeatable)")
	return c
}

// listFlags are the filters and paging of a list command.
func listFlags(c *cobra.Command, filters ...string) (map[string]*string, *int) {
	f := map[string]*string{}
	help := map[string]string{"state": "only this state", "pool": "only this pool", "owner": "only this owner (admins)",
		"cursor": "page cursor from a previous list"}
	for _, name := range append(filters, "cursor") {
		f[name] = c.Flags().String(name, "", help[name])
	}
	return f, c.Flags().Int("limit", 100, "page size (1-1000)")
}

func query(f map[string]*string, limit *int) url.Values {
	q := url.Values{"limit": {fmt.Sprint(*limit)}}
	for k, v := range f {
		if *v != "" {
			q.Set(k, *v)
		}
	}
	return q
}

func moreHint(w *tabwriter.Writer, next string) {
	if next != "" {
		fmt.Fprintf(w, "(more: --cursor %s)\n", next)
	}
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
	f, limit = listFlags(c, "state", "pool", "owner")
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
	return group("pool", "see pools: stock, in flight, quota",
		clientCommand(g, "list", "list pools", nil, func(s *session, _ []string) error {
			page, err := s.c.PoolList(s.ctx)
			if err != nil {
				return err
			}
			return s.print(page, poolTable(page.Items...))
		}),
		clientCommand(g, "status NAME", "one pool's status (admins also see waiting accounts and drift)", []string{"NAME"},
			func(s *session, a []string) error {
				p, err := s.c.PoolGet(s.ctx, a[0])
				if err != nil {
					return err
				}
				return s.print(p, func(w *tabwriter.Writer) { poolStatusTable(w, p) })
			}))
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
		fmt.Fprintln(w, "\nACCOUNT\tSTATE\tWAITING FOR\tLAST ERROR")
		for _, a := range p.Waiting {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", a.ID, a.State, orDash(a.Waiting), orDash(a.LastError))
		}
	}
}

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
		return clientCommand(g, name+" ID", short, []string{"ID"}, func(s *session, a []string) error {
			acct, err := fn(s.c)(s.ctx, a[0])
			if err != nil {
				return err
			}
			return s.print(acct, accountTable(*acct))
		})
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
	get := clientCommand(g, "get ID", "one account and its event log (OVM id or 12-digit AWS id; admin)", []string{"ID"},
		func(s *session, a []string) error {
			acct, err := s.c.AccountGet(s.ctx, a[0])
			if err != nil {
				return err
			}
			return s.print(acct, func(w *tabwriter.Writer) { accountDetail(w, acct) })
		})
	return group("account", "see and act on accounts (admin)", list, get,
		eventsCommand(g, "the account's whole event log, newest first, its leases' too (admin)",
			func(c *client.Client) func(context.Context, string, url.Values) (*client.Page[client.Event], error) {
				return c.AccountEvents
			}),
		action("retry", "retry a quarantined account's failed step", func(c *client.Client) func(context.Context, string) (*client.Account, error) { return c.AccountRetry }),
		action("retire", "retire a quarantined account", func(c *client.Client) func(context.Context, string) (*client.Account, error) {
			return c.AccountRetire
		}))
}

func accountDetail(w *tabwriter.Writer, a *client.Account) {
	accountTable(*a)(w)
	fmt.Fprintf(w, "\nrole: %s\nemail: %s\n", orDash(a.CrossAccountRole), a.Email)
	if a.Waiting != "" {
		fmt.Fprintf(w, "waiting for: %s\n", a.Waiting)
	}
	fmt.Fprintln(w, "\nevents, newest first:")
	eventTable(a.Events...)(w)
	if a.EventsNextCursor != "" {
		fmt.Fprintf(w, "(older: ovm account events %s --cursor %s)\n", a.ID, a.EventsNextCursor)
	}
}

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

func keyTable(keys ...client.Key) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tROLE\tCREATED\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, fmtTime(&k.CreatedAt), fmtTime(k.RevokedAt))
		}
	}
}

func keyCommand(g *globals) *cobra.Command {
	var role string
	create := clientCommand(g, "create NAME", "make an API key; it is shown only once (admin)", []string{"NAME"}, func(s *session, a []string) error {
		k, err := s.c.KeyCreate(s.ctx, &client.KeyRequest{Name: a[0], Role: ovm.Role(role)})
		if err != nil {
			return err
		}
		return s.print(k, func(w *tabwriter.Writer) {
			keyTable(*k)(w)
			fmt.Fprintf(w, "\nkey (shown only now): %s\n", k.Key)
		})
	})
	create.Flags().StringVar(&role, "role", "user", "user or admin")
	return group("key", "manage API keys (admin)", create,
		clientCommand(g, "list", "list API keys (admin)", nil, func(s *session, _ []string) error {
			page, err := s.c.KeyList(s.ctx, nil)
			if err != nil {
				return err
			}
			return s.print(page, keyTable(page.Items...))
		}),
		clientCommand(g, "revoke ID", "revoke an API key; the last active admin key cannot be revoked (admin)", []string{"ID"},
			func(s *session, a []string) error {
				k, err := s.c.KeyRevoke(s.ctx, a[0])
				if err != nil {
					return err
				}
				return s.print(k, keyTable(*k))
			}))
}
