package systemd

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovmdev/ovm/internal/testtool"
	"gopkg.in/yaml.v3"
)

// unit is a parsed unit file: section -> key -> every assignment, in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u, section := unit{}, ""
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line of a section: %q", path, n+1, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// last is the value that counts for a single-valued key ("" when unset).
func (u unit) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// The service runs as its own user, without privileges, in a read-only
// view of the host, and systemd-analyze rates its exposure "OK".
func TestTheUnitIsHardened(t *testing.T) {
	u := parseUnit(t, "ovm.service")
	for _, d := range []struct{ key, want string }{
		{"User", "ovm"}, {"Group", "ovm"},
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""}, {"AmbientCapabilities", ""},
		{"ProtectSystem", "strict"}, {"ProtectHome", "yes"},
		{"PrivateTmp", "yes"}, {"PrivateDevices", "yes"}, {"DevicePolicy", "closed"},
		{"ProtectKernelTunables", "yes"}, {"ProtectKernelModules", "yes"}, {"ProtectKernelLogs", "yes"},
		{"ProtectControlGroups", "yes"}, {"ProtectClock", "yes"}, {"ProtectHostname", "yes"},
		{"ProtectProc", "invisible"}, {"ProcSubset", "pid"},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"RestrictNamespaces", "yes"}, {"RestrictRealtime", "yes"}, {"RestrictSUIDSGID", "yes"},
		{"LockPersonality", "yes"}, {"MemoryDenyWriteExecute", "yes"},
		{"PrivateUsers", "yes"}, {"PrivateIPC", "yes"}, {"PrivateMounts", "yes"}, {"RemoveIPC", "yes"},
		{"SystemCallArchitectures", "native"}, {"UMask", "0077"},
		{"Restart", "on-failure"}, {"KillMode", "mixed"}, {"KillSignal", "SIGTERM"},
	} {
		vs, ok := u["Service"][d.key]
		if !ok {
			t.Errorf("[Service] %s= is missing, want %q", d.key, d.want)
			continue
		}
		if got := vs[len(vs)-1]; got != d.want {
			t.Errorf("[Service] %s=%s, want %q", d.key, got, d.want)
		}
	}
	if got := u["Service"]["SystemCallFilter"]; !slices.Equal(got, []string{"@system-service", "~@privileged"}) {
		t.Errorf("SystemCallFilter = %q, want @system-service then ~@privileged", got)
	}

	sa := testtool.Require(t, "systemd-analyze", "make deps (apt-get install systemd)")
	out, _ := security(t, sa, t.TempDir(), "")
	m := regexp.MustCompile(`Overall exposure level for ovm\.service: ([0-9.]+) (\w+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if level, _ := strconv.ParseFloat(m[1], 64); level > 2.0 {
		t.Errorf("exposure %s %s, want at most 2.0:\n%s", m[1], m[2], out)
	}
}

// The sign-up drop-in relaxes exactly what Chromium needs among the
// checks of systemd-analyze security, and nothing else: writable and
// executable memory, netlink sockets and the whole of /proc.
func TestTheSignupDropInRelaxesOnlyWhatChromiumNeeds(t *testing.T) {
	sa := testtool.Require(t, "systemd-analyze", "make deps (apt-get install systemd)")
	_, base := security(t, sa, t.TempDir(), "")
	_, signup := security(t, sa, t.TempDir(), "signup.conf")
	var relaxed []string
	for _, f := range signup {
		if !slices.Contains(base, f) {
			relaxed = append(relaxed, f)
		}
	}
	want := []string{"MemoryDenyWriteExecute=", "RestrictAddressFamilies=~AF_NETLINK", "ProcSubset="}
	if !slices.Equal(relaxed, want) {
		t.Errorf("the drop-in relaxes %q, want %q", relaxed, want)
	}
}

// security writes the unit (ExecStart pointed at an existing program, as
// the offline check wants) and, when dropIn is set, that drop-in next to
// it into dir, and runs systemd-analyze security on it. It returns the
// output and the checks it failed (lines marked ✗), by name.
func security(t *testing.T, sa, dir, dropIn string) (string, []string) {
	t.Helper()
	path := installUnit(t, dir, "/bin/true", dropIn)
	cmd := exec.Command(sa, "security", "--offline=true", path)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	var failed []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "✗" {
			failed = append(failed, f[1])
		}
	}
	return string(out), failed
}

// installUnit copies ovm.service into dir with its ExecStart binary
// replaced by bin, and the drop-in (a file of this package) into
// dir/ovm.service.d/, where systemd-analyze finds it. It returns the
// unit's path.
func installUnit(t *testing.T, dir, bin, dropIn string) string {
	t.Helper()
	b, err := os.ReadFile("ovm.service")
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, "ovm.service")
	exe := strings.Fields(u.last("Service", "ExecStart"))[0]
	body := strings.Replace(string(b), "ExecStart="+exe+" ", "ExecStart="+bin+" ", 1)
	if body == string(b) {
		t.Fatalf("ExecStart does not start with %s", exe)
	}
	path := filepath.Join(dir, "ovm.service")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if dropIn != "" {
		d, err := os.ReadFile(dropIn)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "ovm.service.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ovm.service.d", dropIn), d, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// buildOVM builds ./cmd/ovm into a temporary directory.
func buildOVM(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ovm")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/ovm").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ovm: %v\n%s", err, out)
	}
	return bin
}

// systemd-analyze verify passes the unit, alone and with the sign-up
// drop-in, without a single warning (an unknown or misspelt directive is
// only a warning to systemd, so any output fails the test). verify wants
// the ExecStart binary to exist, so the unit under test is a copy whose
// ExecStart names an ovm built from ./cmd/ovm in a temporary directory;
// every other line is the shipped file's.
func TestSystemdAnalyzeVerifiesTheUnit(t *testing.T) {
	sa := testtool.Require(t, "systemd-analyze", "make deps (apt-get install systemd)")
	bin := buildOVM(t)
	for _, dropIn := range []string{"", "signup.conf"} {
		dir := t.TempDir()
		path := installUnit(t, dir, bin, dropIn)
		cmd := exec.Command(sa, "verify", "--man=no", path)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify (drop-in %q): %v\n%s", dropIn, err, out)
		}
	}
	// The check has teeth: a missing binary fails it.
	path := installUnit(t, t.TempDir(), filepath.Join(t.TempDir(), "no-such-ovm"), "")
	if out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput(); err == nil {
		t.Errorf("systemd-analyze verify passed a unit whose binary is missing:\n%s", out)
	}
}

// exampleConfig is what the test needs of ovm.yaml.
type exampleConfig struct {
	DataDir         string `yaml:"data_dir"`
	ShutdownTimeout string `yaml:"shutdown_timeout"`
}

func readExample(t *testing.T) exampleConfig {
	t.Helper()
	b, err := os.ReadFile("ovm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c exampleConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// systemdSeconds reads a time span of systemd as used here: "90s",
// "10min", "2h" or bare seconds.
func systemdSeconds(t *testing.T, s string) time.Duration {
	t.Helper()
	s = strings.Replace(s, "min", "m", 1)
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("time span %q: %v", s, err)
	}
	return d
}

// The unit's paths agree with each other and with the example
// configuration, and systemd waits longer than ovm serve's drain (the
// HTTP shutdown and then the engine's, each up to shutdown_timeout)
// before it kills.
func TestTheUnitsPathsAndStopTimeoutAgree(t *testing.T) {
	u := parseUnit(t, "ovm.service")
	c := readExample(t)
	args := strings.Fields(u.last("Service", "ExecStart"))
	state := "/var/lib/" + u.last("Service", "StateDirectory")
	if i := slices.Index(args, "--data"); i < 0 || i+1 >= len(args) || args[i+1] != state {
		t.Errorf("ExecStart %q does not pass --data %s (StateDirectory)", args, state)
	}
	if i := slices.Index(args, "--config"); i < 0 || i+1 >= len(args) || args[i+1] != "/etc/ovm/ovm.yaml" {
		t.Errorf("ExecStart %q does not pass --config /etc/ovm/ovm.yaml (docs/systemd.md)", args)
	}
	if wd := u.last("Service", "WorkingDirectory"); wd != state {
		t.Errorf("WorkingDirectory=%s, want %s", wd, state)
	}
	if ef := u.last("Service", "EnvironmentFile"); ef != "-/etc/ovm/ovm.env" {
		t.Errorf("EnvironmentFile=%s, want the optional -/etc/ovm/ovm.env", ef)
	}
	env, err := os.ReadFile("ovm.env")
	if err != nil {
		t.Fatal(err)
	}
	for n, line := range strings.Split(string(env), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && !regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(line) {
			t.Errorf("ovm.env:%d: not a comment nor KEY=VALUE: %q", n+1, line)
		}
	}
	if c.DataDir != state {
		t.Errorf("ovm.yaml's data_dir %q, want %s", c.DataDir, state)
	}
	if c.ShutdownTimeout == "" {
		t.Fatal("ovm.yaml does not set shutdown_timeout, which TimeoutStopSec must cover")
	}
	drain, err := time.ParseDuration(c.ShutdownTimeout)
	if err != nil {
		t.Fatal(err)
	}
	stop := systemdSeconds(t, u.last("Service", "TimeoutStopSec"))
	if stop < 2*drain+10*time.Second {
		t.Errorf("TimeoutStopSec=%s, want at least twice shutdown_timeout (%s) plus 10s", stop, drain)
	}
}

// The unit's command line is a real `ovm serve`: the binary built from
// ./cmd/ovm, run with ExecStart's arguments (the configuration and data
// paths moved to a temporary directory; the example configuration as
// shipped but for its ports), serves /healthz, writes its store and admin
// key into the data directory it was given, and stops cleanly on the
// unit's KillSignal well within TimeoutStopSec. A renamed flag, or a key
// of ovm.yaml that the binary no longer knows, fails it.
func TestExecStartRunsTheRealServe(t *testing.T) {
	bin := buildOVM(t)
	u := parseUnit(t, "ovm.service")
	dir := t.TempDir()
	data := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "ovm.yaml")
	example, err := os.ReadFile("ovm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Free ports, so the test runs beside anything else on the machine.
	body := regexp.MustCompile(`(?m)^listen: \S+`).ReplaceAllString(string(example), "listen: 127.0.0.1:0")
	body = regexp.MustCompile(`(?m)^(\s+)listen: 127\.0\.0\.1:9464`).ReplaceAllString(body, "${1}listen: 127.0.0.1:0")
	if body == string(example) {
		t.Fatal("found no ports to move in ovm.yaml")
	}
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(u.last("Service", "ExecStart"))[1:]
	for i, a := range args {
		switch a {
		case "/etc/ovm/ovm.yaml":
			args[i] = cfg
		case "/var/lib/" + u.last("Service", "StateDirectory"):
			args[i] = data
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`ovm listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	var url string
	select {
	case url = <-urlc:
	case err := <-exited:
		t.Fatalf("ovm %s exited before listening: %v\n%s", strings.Join(args, " "), err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("ovm %s did not start\n%s", strings.Join(args, " "), stderr.String())
	}
	res, err := http.Get(url + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /healthz: %v %v", res, err)
	}
	res.Body.Close()
	for _, f := range []string{"ovm.db", "admin.key"} {
		if fi, err := os.Stat(filepath.Join(data, f)); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s in the data directory: %v %v, want it there, private", f, fi, err)
		}
	}
	sig := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT}[u.last("Service", "KillSignal")]
	if sig == 0 {
		t.Fatalf("KillSignal=%s: want SIGTERM or SIGINT, the signals ovm serve drains on", u.last("Service", "KillSignal"))
	}
	stopped := time.Now()
	cmd.Process.Signal(sig)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("ovm serve after %s: %v\n%s", sig, err, stderr.String())
		}
	case <-time.After(systemdSeconds(t, u.last("Service", "TimeoutStopSec"))):
		t.Fatalf("ovm serve still runs TimeoutStopSec after %s: systemd would kill it\n%s", sig, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutdown complete") {
		t.Errorf("no clean shutdown:\n%s", stderr.String())
	}
	t.Logf("stopped on %s after %s", u.last("Service", "KillSignal"), time.Since(stopped).Round(time.Millisecond))
}

// ovm.sysusers makes the unit's user and group, a system account whose
// home is the state directory and which cannot log in (systemd-sysusers
// run into a temporary root).
func TestSysusersMakesTheUnitsUser(t *testing.T) {
	su := testtool.Require(t, "systemd-sysusers", "make deps (apt-get install systemd)")
	u := parseUnit(t, "ovm.service")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("ovm.sysusers")
	if out, err := exec.Command(su, "--root="+root, abs).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	var entry []string
	for _, line := range strings.Split(string(passwd), "\n") {
		if f := strings.Split(line, ":"); len(f) == 7 && f[0] == u.last("Service", "User") {
			entry = f
		}
	}
	if entry == nil {
		t.Fatalf("no user %s in\n%s", u.last("Service", "User"), passwd)
	}
	if uid, _ := strconv.Atoi(entry[2]); uid == 0 || uid >= 1000 {
		t.Errorf("uid %d, want a system uid", uid)
	}
	if entry[5] != "/var/lib/"+u.last("Service", "StateDirectory") || !strings.HasSuffix(entry[6], "nologin") {
		t.Errorf("home %s, shell %s: want the state directory and nologin", entry[5], entry[6])
	}
	group, _ := os.ReadFile(filepath.Join(root, "etc", "group"))
	if !strings.Contains(string(group), u.last("Service", "Group")+":x:"+entry[3]+":") {
		t.Errorf("no group %s with gid %s in\n%s", u.last("Service", "Group"), entry[3], group)
	}
}
