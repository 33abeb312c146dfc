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

	"github.com/ovmdev/ovm/client"
	"github.com/spf13/cobra"
)

// The client commands: each builds its request, calls the API through
// client.Client and prints a table, or JSON with --output json. This file
// is what they share (the session, output, list flags); each command group
// is a file: lease.go (and lease_access.go: credentials, console, exec),
// pool.go, account.go, key.go, delivery.go; events.go is the events
// command of leases and accounts.

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

func group(use, short string, cmds ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short}
	c.AddCommand(cmds...)
	return c
}

// listFlags are the filters and paging of a list command.
func listFlags(c *cobra.Command, filters ...string) (map[string]*string, *int) {
	f := map[string]*string{}
	help := map[string]string{"state": "only this state", "pool": "only this pool", "owner": "only this owner (admins)",
		"team": "only leases that count for this team", "template": "only leases of this template",
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
