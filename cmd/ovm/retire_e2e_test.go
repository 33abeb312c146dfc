package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// ovm account retire of a ready account asks first: no answer (or any
// but yes) retires nothing and exits 2; "yes" on standard input, or --yes,
// retires it.
func TestRetiringAReadyAccountAsksFirst(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := newServer(t, `
engine: {tick: 50ms}
pools:
  - name: default
    stock: {target: 3, ceiling: 6}
    sim: {create_latency: 50ms, bootstrap_latency: 50ms, close_latency: 50ms}
`)
	s.start()
	ready := func() []client.Account {
		var out []client.Account
		for _, a := range s.accounts() {
			if a.State == ovm.AccountReady {
				out = append(out, a)
			}
		}
		return out
	}
	eventually(t, 20*time.Second, "three ready accounts", func() bool { return len(ready()) >= 3 })
	acc := ready()
	retire := func(stdin string, args ...string) (int, string) {
		cmd := exec.Command(binPath, append([]string{"account", "retire"}, args...)...)
		cmd.Env = append(os.Environ(), "OVM_URL="+s.url, "OVM_TOKEN="+s.key)
		cmd.Stdin = strings.NewReader(stdin)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		cmd.Run()
		return cmd.ProcessState.ExitCode(), errb.String()
	}
	state := func(id string) ovm.AccountState {
		var a client.Account
		s.ovmJSON(&a, "account", "get", id)
		return a.State
	}
	for _, answer := range []string{"", "no\n", "y\n"} {
		if code, errOut := retire(answer, acc[0].ID); code != exitUsage || !strings.Contains(errOut, "is ready") || state(acc[0].ID) != ovm.AccountReady {
			t.Fatalf("answer %q: exit %d, %s; state %s", answer, code, errOut, state(acc[0].ID))
		}
	}
	if code, errOut := retire("yes\n", acc[0].ID); code != 0 || state(acc[0].ID) == ovm.AccountReady {
		t.Fatalf("answered yes: exit %d, %s; state %s", code, errOut, state(acc[0].ID))
	}
	if code, errOut := retire("", acc[1].AccountID, "--yes"); code != 0 || state(acc[1].ID) == ovm.AccountReady {
		t.Fatalf("--yes: exit %d, %s", code, errOut)
	}
}

// A key the server does not know: exit 6 and a next step naming OVM_TOKEN
// and the server's admin.key. key create -o name prints the id on stdout
// and the key, shown once, on stderr.
func TestAnUnknownKeyIsNamedAndANewKeyIsNeverLost(t *testing.T) {
	t.Parallel()
	s := newServer(t, "pools: [{name: default, stock: {target: 0}}]\n")
	s.start()
	cmd := exec.Command(binPath, "pool", "list")
	cmd.Env = append(os.Environ(), "OVM_URL="+s.url, "OVM_TOKEN=ovm_"+strings.Repeat("x", 43))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != exitDenied || !strings.Contains(errb.String(), "is OVM_TOKEN (or --token) a key of this server") {
		t.Fatalf("an unknown key: exit %d, %s", code, errb.String())
	}
	code, out, stderr := s.run(nil, "key", "create", "ci", "--role", "user", "-o", "name")
	if code != 0 || !strings.HasPrefix(strings.TrimSpace(out), "key_") || !strings.Contains(stderr, "key (shown only now): ovm_") {
		t.Fatalf("key create -o name: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
