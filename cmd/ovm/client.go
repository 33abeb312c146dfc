package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

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
	in     io.Reader
	// output is --output: table, json, yaml or name.
	output string
	ctx    context.Context
}

// checkOutput validates --output.
func checkOutput(c *cobra.Command, g *globals) error {
	switch g.output {
	case "table", "json", "yaml", "name":
		return nil
	}
	return usagef(c, "--output %q must be table, json, yaml or name", g.output)
}

// connect makes c's session from the global flags and the environment.
func connect(c *cobra.Command, g *globals) (*session, error) {
	if err := checkOutput(c, g); err != nil {
		return nil, err
	}
	token := strings.TrimSpace(g.token)
	if token == "" {
		var err error
		if token, err = clientToken(); err != nil {
			return nil, err
		}
	}
	base := g.baseURL()
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef(c, "the server URL %q (--url or OVM_URL) is not an http(s) URL", base)
	}
	return &session{c: &client.Client{BaseURL: base, Token: token}, out: c.OutOrStdout(), errOut: c.ErrOrStderr(), in: c.InOrStdin(), output: g.output,
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

// clientToken is OVM_TOKEN (--token comes first), or the key in ./ovm-data/admin.key.
func clientToken() (string, error) {
	if t := strings.TrimSpace(os.Getenv("OVM_TOKEN")); t != "" {
		return t, nil
	}
	b, err := os.ReadFile(filepath.Join("ovm-data", "admin.key"))
	if err != nil {
		return "", errNoKey
	}
	return strings.TrimSpace(string(b)), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// print writes v as --output says: a table made by table, JSON, YAML, or
// the ids of its records, one a line (names).
func (s *session) print(v any, table func(w *tabwriter.Writer)) error {
	switch s.output {
	case "json":
		return printJSON(s.out, v)
	case "yaml":
		return printYAML(s.out, v)
	case "name":
		return printNames(s.out, v)
	}
	w := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// printYAML writes v as YAML, its fields in the order of its JSON.
func printYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil { // JSON is YAML
		return err
	}
	blockStyle(&n)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return err
	}
	return enc.Close()
}

// blockStyle turns the flow style a JSON document parses into to YAML's
// block style, and leaves plain what needs no quotes.
func blockStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle | yaml.DoubleQuotedStyle
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// nameFields are the fields that name a record for -o name, in order.
var nameFields = []string{"id", "lease_id", "name"}

// printNames writes the id (or name) of v, or of each item of a page, one
// a line, for scripts.
func printNames(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return errNoNames
	}
	records := []map[string]json.RawMessage{doc}
	if items, ok := doc["items"]; ok {
		if err := json.Unmarshal(items, &records); err != nil {
			return errNoNames
		}
	}
	for _, r := range records {
		name := ""
		for _, f := range nameFields {
			if json.Unmarshal(r[f], &name) == nil && name != "" {
				break
			}
		}
		if name == "" {
			return errNoNames
		}
		fmt.Fprintln(w, name)
	}
	return nil
}

// errNoKey is a client command without an API key (exit code 6).
var errNoKey = errors.New("no API key: set OVM_TOKEN or --token (or run from the directory holding ovm-data/admin.key)")

// errNoNames is -o name on an answer whose records have no id or name.
var errNoNames = &usageError{cmd: "ovm", msg: "--output name: this command's answer has no ids; use table, json or yaml"}

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

// withExample sets c's Example.
func withExample(example string, c *cobra.Command) *cobra.Command {
	c.Example = example
	return c
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
