package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/ovmdev/ovm/client"
	"gopkg.in/yaml.v3"
)

// The CLI's conventions, after gh and kubectl: output formats, exit codes,
// errors as JSON, --token, a lease named by its AWS account id.

// cliServer starts the real binary (fastConfig: a stock of 3 in about a
// second) and returns how to run the real binary's client commands on it.
func cliServer(t *testing.T) func(args ...string) (int, string, string) {
	return cliServerWith(t, fastConfig)
}

// ceilingConfig is a sim pool of at most 2 live accounts: 2 leases empty it.
const ceilingConfig = `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
pools:
  - name: default
    stock: {target: 2, ceiling: 2}
    lease: {default_ttl: 1h, max_ttl: 2h, min_ttl: 1s, max_per_owner: 6}
    sim: {create_latency: 100ms, bootstrap_latency: 100ms, close_latency: 100ms}
`

func cliServerWith(t *testing.T, config string) func(args ...string) (int, string, string) {
	s := newServer(t, config)
	s.start()
	return func(args ...string) (int, string, string) {
		return s.run(nil, args...)
	}
}

// run runs the binary's client command args against s, with env added.
func (s *server) run(env []string, args ...string) (code int, stdout, stderr string) {
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(append(os.Environ(), "OVM_URL="+s.url, "OVM_TOKEN="+s.key), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		s.t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// lease makes a lease through the CLI.
func lease(t *testing.T, cli func(...string) (int, string, string), args ...string) client.Lease {
	t.Helper()
	code, out, errOut := cli(append([]string{"lease", "create", "--wait", "20s", "-o", "json"}, args...)...)
	var l client.Lease
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil {
		t.Fatalf("lease create: exit %d %q %q", code, out, errOut)
	}
	// Beside JSON, the release command goes to stderr: stdout stays the lease.
	if !strings.Contains(errOut, "release it: ovm lease release "+l.ID) {
		t.Fatalf("lease create -o json: stderr %q names no release command", errOut)
	}
	return l
}

func TestOutputNamePrintsIDsOnlyAndYAMLIsTheJSONsFields(t *testing.T) {
	cli := cliServer(t)
	l := lease(t, cli)
	if code, out, _ := cli("lease", "list", "-o", "name"); code != 0 || out != l.ID+"\n" {
		t.Errorf("lease list -o name: exit %d %q, want %q", code, out, l.ID+"\n")
	}
	if code, out, _ := cli("pool", "list", "-o", "name"); code != 0 || out != "default\n" {
		t.Errorf("pool list -o name: exit %d %q", code, out)
	}
	code, out, _ := cli("lease", "get", l.ID, "-o", "yaml")
	var y map[string]any
	if code != 0 || yaml.Unmarshal([]byte(out), &y) != nil || y["id"] != l.ID || y["account_id"] != l.AccountID {
		t.Errorf("lease get -o yaml: exit %d %q", code, out)
	}
	if strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Errorf("-o yaml printed JSON's flow style: %q", out)
	}
	// A 12-digit AWS account id stays a string in YAML.
	if !strings.Contains(out, `account_id: "`+l.AccountID+`"`) {
		t.Errorf("the account id is not a quoted string: %q", out)
	}
}

func TestExitCodesSayWhatFailed(t *testing.T) {
	cli := cliServerWith(t, ceilingConfig)
	l := lease(t, cli)
	if code, _, _ := cli("lease", "release", l.ID); code != 0 {
		t.Fatalf("release: exit %d", code)
	}
	cases := []struct {
		name string
		args []string
		code int
		word string
	}{
		{"a bad command line is usage", []string{"lease", "create", "--bogus"}, exitUsage, "usage"},
		{"a request the server finds invalid is usage", []string{"lease", "create", "--ttl", "10000h"}, exitUsage, "invalid"},
		{"an unknown lease is not found", []string{"lease", "get", "lse_nope"}, exitNotFound, "not_found"},
		{"releasing an ended lease is a conflict", []string{"lease", "release", l.ID}, exitConflict, "conflict"},
		{"an empty stock is unavailable", []string{"lease", "create", "--pool", "default"}, exitUnavailable, "unavailable"},
		{"an unknown key is denied", []string{"pool", "list", "--token", "ovm_bogus"}, exitDenied, "unauthorized"},
	}
	// Take the stock so the next create finds it empty, and the ceiling
	// keeps it so.
	lease(t, cli)
	lease(t, cli)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := cli(append([]string{"-o", "json"}, c.args...)...)
			var e struct {
				Error struct {
					Code     string `json:"code"`
					Message  string `json:"message"`
					ExitCode int    `json:"exit_code"`
				} `json:"error"`
			}
			if code != c.code || json.Unmarshal([]byte(errOut), &e) != nil || e.Error.Code != c.word || e.Error.ExitCode != c.code || e.Error.Message == "" {
				t.Fatalf("exit %d, stderr %q; want exit %d and a JSON error %q", code, errOut, c.code, c.word)
			}
			// The same failure as a table: one line for a person, same code.
			if code, _, errOut := cli(c.args...); code != c.code || strings.HasPrefix(errOut, "{") {
				t.Fatalf("as a table: exit %d, stderr %q", code, errOut)
			}
		})
	}
}

func TestTheTokenFlagStandsBesideOVMTOKEN(t *testing.T) {
	s := newServer(t, fastConfig)
	s.start()
	t.Chdir(t.TempDir()) // no ./ovm-data/admin.key either
	if code, _, errOut := s.run([]string{"OVM_TOKEN="}, "pool", "list"); code != exitDenied || !strings.Contains(errOut, "--token") {
		t.Fatalf("without a key: exit %d %q", code, errOut)
	}
	if code, out, errOut := s.run([]string{"OVM_TOKEN="}, "pool", "list", "--token", s.key); code != 0 || !strings.HasPrefix(out, "POOL") {
		t.Fatalf("--token: exit %d %q %q", code, out, errOut)
	}
}

var leaseIDRe = regexp.MustCompile(`\blse_[0-9a-z]+`)

func TestVendAndCreatePrintTheLeaseIDAndHowToReleaseIt(t *testing.T) {
	cli := cliServer(t)
	code, out, errOut := cli("lease", "create", "--wait", "20s", "--label", "team=platform")
	id := leaseIDRe.FindString(out)
	if code != 0 || id == "" || !strings.Contains(out, "release it: ovm lease release "+id) || !strings.Contains(out, "team=platform") {
		t.Fatalf("lease create: exit %d %q %q; want the id, the release command and the label", code, out, errOut)
	}
	if !strings.Contains(out, "LABELS") {
		t.Errorf("no LABELS column: %q", out)
	}
	// vend does not wait for stock: wait until the stock is back.
	eventuallyReady(t, cli)
	code, out, errOut = cli("vend", "-o", "json")
	var v vendAnswer
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || !leaseIDRe.MatchString(v.LeaseID) || v.Release != "ovm lease release "+v.LeaseID || v.AccountID == "" {
		t.Fatalf("vend -o json: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ := cli("lease", "get", v.LeaseID, "-o", "json"); code != 0 || !strings.Contains(out, v.AccountID) {
		t.Fatalf("the vended lease %s: exit %d %q", v.LeaseID, code, out)
	}
	eventuallyReady(t, cli)
	code, out, _ = cli("vend")
	if id := leaseIDRe.FindString(out); code != 0 || id == "" || !strings.Contains(out, "release it: ovm lease release "+id) {
		t.Fatalf("vend: exit %d %q", code, out)
	}
}

// eventuallyReady waits for a ready account.
func eventuallyReady(t *testing.T, cli func(...string) (int, string, string)) {
	t.Helper()
	eventually(t, 20e9, "a ready account", func() bool {
		_, out, _ := cli("pool", "status", "default", "-o", "json")
		var p client.Pool
		return json.Unmarshal([]byte(out), &p) == nil && p.Ready > 0
	})
}

func TestALeaseCommandTakesTheAWSAccountIDOfAnActiveLease(t *testing.T) {
	cli := cliServer(t)
	l := lease(t, cli, "--ttl", "1h")
	for _, args := range [][]string{
		{"lease", "get", l.AccountID},
		{"lease", "extend", l.AccountID, "--by", "30m"},
		{"lease", "credentials", l.AccountID},
		{"lease", "console", l.AccountID},
	} {
		if code, out, errOut := cli(append(args, "-o", "json")...); code != 0 || !strings.Contains(out, l.AccountID) && !strings.Contains(out, l.ID) && !strings.Contains(out, "url") {
			t.Errorf("%v: exit %d %q %q", args, code, out, errOut)
		}
	}
	for _, o := range []string{"table", "yaml", "name"} {
		if code, out, errOut := cli("lease", "credentials", l.ID, "-o", o); code != exitUsage || out != "" || !strings.Contains(errOut, "--format") {
			t.Errorf("credentials -o %s: exit %d, stdout %q, stderr %q; want a usage error naming --format", o, code, out, errOut)
		}
	}
	code, out, errOut := cli("lease", "release", l.AccountID, "-o", "json")
	var r client.Lease
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.ID != l.ID || r.State != "ended" {
		t.Fatalf("release by account id: exit %d %q %q", code, out, errOut)
	}
	// Ended: no active lease holds it any more, and the error says so.
	code, _, errOut = cli("lease", "release", l.AccountID)
	if code != exitNotFound || !strings.Contains(errOut, "no active lease you can see holds AWS account "+l.AccountID) {
		t.Fatalf("after the release: exit %d %q", code, errOut)
	}
	// The ended lease's EXPIRES says when it ended, not a time to come.
	if _, out, _ := cli("lease", "get", l.ID); !strings.Contains(out, "ended 20") {
		t.Errorf("an ended lease's EXPIRES: %q", out)
	}
}

func TestKeyRevokeTakesANameOrAnID(t *testing.T) {
	cli := cliServer(t)
	var a, b client.Key
	for _, k := range []*client.Key{&a, &b} {
		name := map[*client.Key]string{&a: "ci-pipeline", &b: "alice"}[k]
		_, out, _ := cli("key", "create", name, "-o", "json")
		if err := json.Unmarshal([]byte(out), k); err != nil {
			t.Fatal(out)
		}
	}
	if code, out, errOut := cli("key", "revoke", "CI-Pipeline", "-o", "json"); code != 0 || !strings.Contains(out, a.ID) || !strings.Contains(out, "revoked_at") {
		t.Fatalf("revoke by name: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ := cli("key", "revoke", b.ID, "-o", "name"); code != 0 || out != b.ID+"\n" {
		t.Fatalf("revoke by id: exit %d %q", code, out)
	}
	if code, _, errOut := cli("key", "revoke", "nobody"); code != exitNotFound || !strings.Contains(errOut, `no API key has the id or name "nobody"`) {
		t.Fatalf("an unknown key: exit %d %q", code, errOut)
	}
}

func TestMistypedCommandsGetASuggestion(t *testing.T) {
	for args, want := range map[string]string{
		"lese":         `unknown command or argument "lese" (did you mean lease?)`,
		"lease relase": `unknown subcommand "relase" (did you mean release?)`,
		"pool stauts":  `unknown subcommand "stauts" (did you mean status?)`,
	} {
		if code, _, errOut := cli(strings.Fields(args)...); code != exitUsage || !strings.Contains(errOut, want) {
			t.Errorf("%s: exit %d %q, want %q", args, code, errOut, want)
		}
	}
}

func TestCompletionScriptsForBashZshAndFish(t *testing.T) {
	for shell, want := range map[string]string{"bash": "complete -o default -F __start_ovm ovm", "zsh": "#compdef ovm", "fish": "complete -c ovm"} {
		if code, out, errOut := cli("completion", shell); code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q; want %q", shell, code, len(out), errOut, want)
		}
	}
	if code, _, _ := cli("completion", "tcsh"); code != exitUsage {
		t.Errorf("completion tcsh: exit %d", code)
	}
}

func TestIAMPolicyRefusesATableAndNeverPrintsJSONForOne(t *testing.T) {
	for _, o := range []string{"table", "name"} {
		code, out, errOut := cli("iam-policy", "-o", o)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "json (the default) or yaml") {
			t.Errorf("-o %s: exit %d, stdout %q, stderr %q", o, code, out, errOut)
		}
	}
	if code, out, _ := cli("iam-policy", "-o", "yaml"); code != 0 || !strings.Contains(out, "Version: \"2012-10-17\"") {
		t.Errorf("-o yaml: exit %d %q", code, out)
	}
	if code, out, _ := cli("iam-policy"); code != 0 || !json.Valid([]byte(out)) {
		t.Errorf("default: exit %d %q", code, out)
	}
}

func TestTablesSayWhatTheyShow(t *testing.T) {
	ended := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	leaseTable(client.Lease{ID: "lse_1", State: "ended", EndReason: "released", ExpiresAt: ended.Add(time.Hour), EndedAt: &ended,
		Labels: map[string]string{"team": "platform", "job": "e2e"}})(w)
	poolStatusTable(w, &client.Pool{Name: "default", Waiting: []client.Account{{ID: "acc_1", State: "creating", Waiting: "creating"}}})
	w.Flush()
	out := b.String()
	for _, want := range []string{"ended 2026-11-25T09:00:00Z", "job=e2e,team=platform", "STEP"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	for _, not := range []string{"2026-11-25T10:00:00Z", "WAITING FOR"} {
		if strings.Contains(out, not) {
			t.Errorf("%q in\n%s", not, out)
		}
	}
}

// TestTheConsoleLinksLifetimeIsTheSameEverywhere: what the code does (AWS's
// sign-in token is good once, within 15 minutes; the console session is
// cut when the lease ends) is what the CLI, the console and the docs say.
func TestTheConsoleLinksLifetimeIsTheSameEverywhere(t *testing.T) {
	once := regexp.MustCompile(`once,? within 15 minutes`)
	ends := regexp.MustCompile(`(session|it opens) ends with the lease`)
	texts := map[string]string{"ovm lease console": consoleLifetime}
	for _, f := range []string{"../../webui/templates/simulated.html", "../../docs/access.md", "../../docs/api.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		texts[f] = strings.Join(strings.Fields(string(b)), " ")
	}
	for where, text := range texts {
		if !once.MatchString(text) || !ends.MatchString(text) {
			t.Errorf("%s does not say the link signs in once within 15 minutes and the session ends with the lease", where)
		}
	}
}

// TestTheExitCodesAreDocumentedAsTheyAre: docs/cli.md's table and the root
// help list the same codes, one per kind, and the code maps to them.
func TestTheExitCodesAreDocumentedAsTheyAre(t *testing.T) {
	b, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(\\d)` \\| ([a-z ]+)")
	help := regexp.MustCompile(`(?m)^  (\d)  ([a-z ]+)`)
	doc, root := row.FindAllStringSubmatch(string(b), -1), help.FindAllStringSubmatch(exitCodesHelp, -1)
	want := map[int]string{exitOK: "success", exitError: "any other error", exitUsage: "usage", exitNotFound: "not found",
		exitConflict: "conflict or limit", exitUnavailable: "unavailable", exitDenied: "denied"}
	for name, rows := range map[string][][]string{"docs/cli.md": doc, "ovm --help": root} {
		if len(rows) != len(want) {
			t.Errorf("%s lists %d exit codes, want %d", name, len(rows), len(want))
		}
		for _, r := range rows {
			n := int(r[1][0] - '0')
			if !strings.HasPrefix(r[2], want[n]) {
				t.Errorf("%s: exit code %d is %q, the code's is %q", name, n, r[2], want[n])
			}
		}
	}
	_, out, _ := cli("--help")
	if !strings.Contains(out, exitCodesHelp) {
		t.Errorf("ovm --help has no exit codes:\n%s", out)
	}
}

// TestAnAccountHeldByTwoLeasesIsAmbiguous: OVM never lets two active leases
// hold one account, so a stand-in API answers the list the CLI resolves
// an AWS account id with.
func TestAnAccountHeldByTwoLeasesIsAmbiguous(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/leases" || r.URL.Query().Get("state") != "active" {
			http.Error(w, `{"error":{"code":"not_found","message":"no"}}`, http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(client.Page[client.Lease]{Items: []client.Lease{
			{ID: "lse_a", AccountID: "129172902526"}, {ID: "lse_b", AccountID: "129172902526"}, {ID: "lse_c", AccountID: "111122223333"}}})
	}))
	defer srv.Close()
	t.Setenv("OVM_URL", srv.URL)
	t.Setenv("OVM_TOKEN", "x")
	code, _, errOut := cli("lease", "get", "129172902526")
	if code != exitConflict || !strings.Contains(errOut, "held by 2 active leases (lse_a, lse_b): give a lease id") {
		t.Fatalf("exit %d %q", code, errOut)
	}
}

// TestExecsDefaultWaitBowsToTheServersMaxWait: a server whose api.max_wait
// is below exec's default --wait still serves exec without --wait.
func TestExecsDefaultWaitBowsToTheServersMaxWait(t *testing.T) {
	s := newServer(t, "api: {max_wait: 30s}\n"+fastConfig)
	s.start()
	eventually(t, 20e9, "stock", func() bool { return s.pool().Ready == 3 })
	if code, out, errOut := s.run(nil, "lease", "exec", "--ttl", "20m", "--", "true"); code != 0 {
		t.Fatalf("exec without --wait: exit %d %q %q", code, out, errOut)
	}
	if code, _, errOut := s.run(nil, "lease", "exec", "--wait", "1m", "--", "true"); code != exitUsage || !strings.Contains(errOut, "maximum") {
		t.Fatalf("an explicit --wait above the maximum: exit %d %q", code, errOut)
	}
}
