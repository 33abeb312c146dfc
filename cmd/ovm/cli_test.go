package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
	"github.com/spf13/cobra"
)

// apiServer is the API in process (SQLite, simulated AWS), for the
// client commands; it sets OVM_URL and OVM_TOKEN (an admin key).
func apiServer(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p, _ := sim.New(sim.Config{}, ovm.SystemClock())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 1}}.WithDefaults()
	eng, err := engine.New(store, []engine.Pool{{Policy: pol, Provider: p}}, ovm.SystemClock(), log, engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(store, eng, ovm.SystemClock(), log, httpapi.Config{}))
	t.Cleanup(srv.Close)
	k, secret, _ := ovm.NewAPIKey("admin", ovm.RoleAdmin, time.Now())
	if err := store.KeyCreate(ctx, k); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OVM_URL", srv.URL)
	t.Setenv("OVM_TOKEN", secret)
}

func cli(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runWith(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestGlobalFlagsGoBeforeOrAfterTheCommand(t *testing.T) {
	apiServer(t)
	for _, args := range [][]string{
		{"--output", "json", "pool", "list"},
		{"pool", "list", "--output", "json"},
		{"-o", "json", "pool", "status", "default"},
		{"pool", "--output=json", "status", "default"},
	} {
		code, out, errOut := cli(args...)
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	if code, out, _ := cli("pool", "list"); code != 0 || !strings.HasPrefix(out, "POOL") {
		t.Errorf("the table: exit %d %q", code, out)
	}
}

func TestUsageErrorsAreOneLineWithAHint(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"lease", "frobnicate"}, `ovm lease: unknown subcommand "frobnicate": use one of budget, console, create, credentials, events, exec, extend, freeze, get, list, release, unfreeze (see ovm lease --help)`},
		{[]string{"lease"}, "ovm lease: a subcommand is required"},
		{[]string{"lease", "create", "--bogus"}, "ovm lease create: unknown flag: --bogus (see ovm lease create --help)"},
		{[]string{"lease", "get"}, "ovm lease get: needs LEASE, got 0 argument(s)"},
		{[]string{"lease", "extend", "lse_1"}, "give exactly one of --by or --until"},
		{[]string{"lease", "create", "--ttl", "soon"}, `invalid argument "soon" for "--ttl"`},
		{[]string{"lease", "create", "--label", "team=a", "--label", "team=b"}, `label "team" is given twice`},
		{[]string{"--output", "xml", "pool", "list"}, `--output "xml" must be table, json, yaml or name`},
		{[]string{"frobnicate"}, `ovm: unknown command or argument "frobnicate" (see ovm --help)`},
		{[]string{"serve", "extra"}, `ovm serve: unexpected argument "extra"`},
		{[]string{}, "ovm: a command is required"},
	}
	for _, c := range cases {
		code, _, errOut := cli(c.args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != 2 || !strings.Contains(errOut, c.want) || (len(c.args) > 0 && len(lines) != 1) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line containing %q", c.args, code, errOut, c.want)
		}
	}
}

func TestHelpAndVersionExitZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"lease", "create", "--help"}, {"key", "--help"}} {
		code, out, errOut := cli(args...)
		if code != 0 || !strings.Contains(out, "Usage:") || errOut != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	code, out, _ := cli("version")
	if code != 0 || !strings.HasPrefix(out, "ovm dev (go1.") {
		t.Errorf("version: exit %d %q", code, out)
	}
	code, out, _ = cli("version", "--output", "json")
	var v map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["version"] != "dev" {
		t.Errorf("version json: exit %d %q", code, out)
	}
}

// TestEveryCommandHasExamples walks the command tree: each command's help
// shows how it is used, as gh's and kubectl's do.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example in its help", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot(strings.NewReader(""), io.Discard, io.Discard))
	if n < 40 {
		t.Fatalf("walked %d commands: the tree is not all there", n)
	}
}
