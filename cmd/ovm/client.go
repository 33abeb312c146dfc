package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/httpapi"
)

// clientCmd is one parsed client command.
type clientCmd struct {
	c    *httpapi.Client
	out  io.Writer
	json bool
	args []string
	fs   *flag.FlagSet
	ctx  context.Context
}

// parse parses flags anywhere among the arguments (Go's flag package stops
// at the first positional one) and returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func client(args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 {
		return errUsage
	}
	group, verb := args[0], ""
	rest := args[1:]
	if group != "vend" {
		if len(rest) == 0 {
			return errUsage
		}
		verb, rest = rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("ovm "+group+" "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("output", "table", "output format: table or json")
	baseURL := fs.String("url", envOr("OVM_URL", "http://127.0.0.1:8080"), "OVM server (env OVM_URL)")
	cmd := &clientCmd{out: stdout, fs: fs, ctx: context.Background()}
	run, ok := commands[group+" "+verb]
	if group == "vend" {
		run, ok = cmdVend, true
	}
	if !ok {
		return fmt.Errorf("unknown command %q: %w", strings.TrimSpace(group+" "+verb), errUsage)
	}
	flags := run(cmd) // registers the command's flags, returns its body
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return errUsage
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("--output %q must be table or json", *output)
	}
	token, err := clientToken()
	if err != nil {
		return err
	}
	cmd.json = *output == "json"
	cmd.args = pos
	cmd.c = &httpapi.Client{BaseURL: *baseURL, Token: token}
	return flags()
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

// needArgs checks the number of positional arguments.
func (c *clientCmd) needArgs(names ...string) error {
	if len(c.args) != len(names) {
		return fmt.Errorf("%s needs %s: %w", c.fs.Name(), strings.Join(names, " "), errUsage)
	}
	return nil
}

// print writes v as JSON, or as a table made by table.
func (c *clientCmd) print(v any, table func(w *tabwriter.Writer)) error {
	if c.json {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

type command func(c *clientCmd) func() error

var commands = map[string]command{
	"lease create":   cmdLeaseCreate,
	"lease list":     cmdLeaseList,
	"lease get":      cmdLeaseGet,
	"lease extend":   cmdLeaseExtend,
	"lease release":  cmdLeaseRelease,
	"pool list":      cmdPoolList,
	"pool status":    cmdPoolStatus,
	"account list":   cmdAccountList,
	"account get":    cmdAccountGet,
	"account retry":  cmdAccountAction("retry"),
	"account retire": cmdAccountAction("retire"),
	"key create":     cmdKeyCreate,
	"key list":       cmdKeyList,
	"key revoke":     cmdKeyRevoke,
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

func cmdVend(c *clientCmd) func() error {
	return func() error {
		if err := c.needArgs(); err != nil {
			return err
		}
		v, err := c.c.Vend(c.ctx)
		if err != nil {
			return err
		}
		return c.print(v, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "ACCOUNT\tCROSS ACCOUNT ROLE")
			fmt.Fprintf(w, "%s\t%s\n", v.AccountID, v.CrossAccountRole)
		})
	}
}

func leaseTable(leases ...httpapi.Lease) func(w *tabwriter.Writer) {
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
	l[k] = v
	return nil
}

func cmdLeaseCreate(c *clientCmd) func() error {
	pool := c.fs.String("pool", "", "pool (default: the server's default pool)")
	ttl := c.fs.Duration("ttl", 0, "lease duration (default: the pool's default TTL)")
	wait := c.fs.Duration("wait", 0, "wait this long for an account when the stock is empty")
	labels := labelFlag{}
	c.fs.Var(labels, "label", "label key=value (repeatable)")
	return func() error {
		if err := c.needArgs(); err != nil {
			return err
		}
		req := &httpapi.LeaseRequest{Pool: *pool, Wait: httpapi.Duration(*wait), Labels: labels}
		if *ttl != 0 {
			d := httpapi.Duration(*ttl)
			req.TTL = &d
		}
		l, err := c.c.LeaseCreate(c.ctx, req)
		if err != nil {
			return err
		}
		return c.print(l, leaseTable(*l))
	}
}

func cmdLeaseList(c *clientCmd) func() error {
	state := c.fs.String("state", "", "active or ended")
	pool := c.fs.String("pool", "", "only this pool")
	owner := c.fs.String("owner", "", "only this owner (admins)")
	limit := c.fs.Int("limit", 100, "page size")
	cursor := c.fs.String("cursor", "", "page cursor from a previous list")
	return func() error {
		if err := c.needArgs(); err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range map[string]string{"state": *state, "pool": *pool, "owner": *owner, "cursor": *cursor} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", fmt.Sprint(*limit))
		page, err := c.c.LeaseList(c.ctx, q)
		if err != nil {
			return err
		}
		return c.print(page, func(w *tabwriter.Writer) {
			leaseTable(page.Items...)(w)
			if page.NextCursor != "" {
				fmt.Fprintf(w, "(more: --cursor %s)\n", page.NextCursor)
			}
		})
	}
}

func cmdLeaseGet(c *clientCmd) func() error {
	return func() error {
		if err := c.needArgs("ID"); err != nil {
			return err
		}
		l, err := c.c.LeaseGet(c.ctx, c.args[0])
		if err != nil {
			return err
		}
		return c.print(l, leaseTable(*l))
	}
}

func cmdLeaseExtend(c *clientCmd) func() error {
	by := c.fs.Duration("by", 0, "extend by this duration")
	until := c.fs.String("until", "", "new expiry, RFC 3339")
	return func() error {
		if err := c.needArgs("ID"); err != nil {
			return err
		}
		req := &httpapi.ExtendRequest{}
		switch {
		case *by != 0 && *until == "":
			d := httpapi.Duration(*by)
			req.ExtendBy = &d
		case *by == 0 && *until != "":
			t, err := time.Parse(time.RFC3339, *until)
			if err != nil {
				return fmt.Errorf("--until %q is not RFC 3339 (e.g. 2026-11-25T09:00:00Z)", *until)
			}
			req.ExpiresAt = &t
		default:
			return fmt.Errorf("give exactly one of --by or --until")
		}
		l, err := c.c.LeaseExtend(c.ctx, c.args[0], req)
		if err != nil {
			return err
		}
		return c.print(l, leaseTable(*l))
	}
}

func cmdLeaseRelease(c *clientCmd) func() error {
	return func() error {
		if err := c.needArgs("ID"); err != nil {
			return err
		}
		l, err := c.c.LeaseRelease(c.ctx, c.args[0])
		if err != nil {
			return err
		}
		return c.print(l, leaseTable(*l))
	}
}

func poolTable(pools ...httpapi.Pool) func(w *tabwriter.Writer) {
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

func cmdPoolList(c *clientCmd) func() error {
	return func() error {
		if err := c.needArgs(); err != nil {
			return err
		}
		page, err := c.c.PoolList(c.ctx)
		if err != nil {
			return err
		}
		return c.print(page, poolTable(page.Items...))
	}
}

func cmdPoolStatus(c *clientCmd) func() error {
	return func() error {
		if err := c.needArgs("NAME"); err != nil {
			return err
		}
		p, err := c.c.PoolGet(c.ctx, c.args[0])
		if err != nil {
			return err
		}
		return c.print(p, func(w *tabwriter.Writer) {
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
		})
	}
}

func accountTable(accts ...httpapi.Account) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tACCOUNT\tPOOL\tSTATE\tGEN\tCREATED\tLAST ERROR")
		for _, a := range accts {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.ID, orDash(a.AccountID), a.Pool, a.State, a.Generation,
				fmtTime(&a.CreatedAt), orDash(a.LastError))
		}
	}
}

func cmdAccountList(c *clientCmd) func() error {
	state := c.fs.String("state", "", "only this state")
	pool := c.fs.String("pool", "", "only this pool")
	limit := c.fs.Int("limit", 100, "page size")
	cursor := c.fs.String("cursor", "", "page cursor from a previous list")
	return func() error {
		if err := c.needArgs(); err != nil {
			return err
		}
		q := url.Values{"limit": {fmt.Sprint(*limit)}}
		for k, v := range map[string]string{"state": *state, "pool": *pool, "cursor": *cursor} {
			if v != "" {
				q.Set(k, v)
			}
		}
		page, err := c.c.AccountList(c.ctx, q)
		if err != nil {
			return err
		}
		return c.print(page, func(w *tabwriter.Writer) {
			accountTable(page.Items...)(w)
			if page.NextCursor != "" {
				fmt.Fprintf(w, "(more: --cursor %s)\n", page.NextCursor)
			}
		})
	}
}

func cmdAccountGet(c *clientCmd) func() error {
	return func() error {
		if err := c.needArgs("ID"); err != nil {
			return err
		}
		a, err := c.c.AccountGet(c.ctx, c.args[0])
		if err != nil {
			return err
		}
		return c.print(a, func(w *tabwriter.Writer) {
			accountTable(*a)(w)
			fmt.Fprintf(w, "\nrole: %s\nemail: %s\n", orDash(a.CrossAccountRole), a.Email)
			if a.Waiting != "" {
				fmt.Fprintf(w, "waiting for: %s\n", a.Waiting)
			}
			fmt.Fprintln(w, "\nTIME\tACTOR\tFROM\tTO\tWHY")
			for _, e := range a.Events {
				from := e.From
				if e.Kind == "lease" {
					from = "lease " + orDash(from)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Actor, orDash(from), e.To, e.Reason)
			}
		})
	}
}

func cmdAccountAction(action string) command {
	return func(c *clientCmd) func() error {
		return func() error {
			if err := c.needArgs("ID"); err != nil {
				return err
			}
			fn := c.c.AccountRetry
			if action == "retire" {
				fn = c.c.AccountRetire
			}
			a, err := fn(c.ctx, c.args[0])
			if err != nil {
				return err
			}
			return c.print(a, accountTable(*a))
		}
	}
}

func keyTable(keys ...httpapi.Key) func(w *tabwriter.Writer) {
	return func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tROLE\tCREATED\tREVOKED")
		for _, k := range keys {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, fmtTime(&k.CreatedAt), fmtTime(k.RevokedAt))
		}
	}
}

func cmdKeyCreate(c *clientCmd) func() error {
	role := c.fs.String("role", "user", "user or admin")
	return func() error {
		if err := c.needArgs("NAME"); err != nil {
			return err
		}
		k, err := c.c.KeyCreate(c.ctx, &httpapi.KeyRequest{Name: c.args[0], Role: ovm.Role(*role)})
		if err != nil {
			return err
		}
		return c.print(k, func(w *tabwriter.Writer) {
			keyTable(*k)(w)
			fmt.Fprintf(w, "\nkey (shown only now): %s\n", k.Key)
		})
	}
}

func cmdKeyList(c *clientCmd) func() error {
	return func() error {
		if err := c.needArgs(); err != nil {
			return err
		}
		page, err := c.c.KeyList(c.ctx, nil)
		if err != nil {
			return err
		}
		return c.print(page, keyTable(page.Items...))
	}
}

func cmdKeyRevoke(c *clientCmd) func() error {
	return func() error {
		if err := c.needArgs("ID"); err != nil {
			return err
		}
		k, err := c.c.KeyRevoke(c.ctx, c.args[0])
		if err != nil {
			return err
		}
		return c.print(k, keyTable(*k))
	}
}
