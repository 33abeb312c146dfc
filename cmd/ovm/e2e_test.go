package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/provider/sim"
)

// The end-to-end tests build the real binary once and talk HTTP to it.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ovm-e2e-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "ovm")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building ovm:", err)
		os.Exit(1)
	}
	// The parallel tests here mostly wait (on their own servers' ticks,
	// replicas and browsers), not compute: run more at once than the
	// CPUs (the default), unless -parallel says otherwise.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		if err := flag.Set("test.parallel", "6"); err != nil {
			panic(err)
		}
	}
	code := mototest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// fastConfig is a sim pool that fills in about a second.
const fastConfig = `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
pools:
  - name: default
    stock: {target: 3, ceiling: 6}
    lease: {default_ttl: 1h, max_ttl: 2h, min_ttl: 1s, max_per_owner: 6}
    retry: {base_delay: 100ms, max_delay: 1s}
    sim: {create_latency: 300ms, bootstrap_latency: 200ms, close_latency: 200ms}
`

type server struct {
	t   *testing.T
	dir string
	cfg string
	// bin is the binary to run (default binPath, this build).
	bin string
	// noKey: the server writes no admin key (started read-only).
	noKey bool
	cmd   *exec.Cmd
	url   string
	key   string
	// metricsURL is where the server serves /metrics (metrics.listen).
	metricsURL string
	stderr     *syncBuf
	exited     chan error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newServer writes config into a fresh directory; start runs it.
func newServer(t *testing.T, config string) *server {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ovm.yaml")
	config = "listen: 127.0.0.1:0\ndata_dir: " + filepath.Join(dir, "data") + "\n" + config
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return &server{t: t, dir: dir, cfg: cfg}
}

var (
	listenRe  = regexp.MustCompile(`ovm listening on (http://\S+)`)
	metricsRe = regexp.MustCompile(`ovm metrics on (http://\S+)`)
)

// start runs `ovm serve` with extra environment and waits until it listens.
func (s *server) start(env ...string) {
	s.t.Helper()
	s.startArgs([]string{"serve", "--config", s.cfg}, env...)
}

func (s *server) startArgs(args []string, env ...string) {
	s.t.Helper()
	bin := s.bin
	if bin == "" {
		bin = binPath
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), env...)
	s.stderr = &syncBuf{}
	s.cmd.Stderr = s.stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := metricsRe.FindStringSubmatch(sc.Text()); m != nil {
				s.metricsURL = m[1]
			}
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { s.exited <- s.cmd.Wait() }()
	s.t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	select {
	case s.url = <-urlc:
	case err := <-s.exited:
		s.exited <- err
		s.t.Fatalf("ovm serve exited before listening: %v\n%s", err, s.stderr.String())
	case <-time.After(20 * time.Second):
		s.t.Fatalf("ovm serve did not start\n%s", s.stderr.String())
	}
	if s.noKey {
		return
	}
	key, err := os.ReadFile(filepath.Join(s.dir, "data", "admin.key"))
	if err != nil {
		s.t.Fatal(err)
	}
	s.key = strings.TrimSpace(string(key))
}

// startNoKey is start for a server that writes no admin key (read-only).
func (s *server) startNoKey(env ...string) {
	s.t.Helper()
	s.noKey = true
	s.start(env...)
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// waitExit waits for the process to end by itself (e.g. at a crash point).
func (s *server) waitExit(d time.Duration) error {
	select {
	case err := <-s.exited:
		return err
	case <-time.After(d):
		s.t.Fatalf("ovm serve still running after %s\n%s", d, s.stderr.String())
		return nil
	}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (s *server) do(method, path, key, body string) answer {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{status: -1, body: []byte(err.Error())}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, b}
}

// ovm runs a client command against the server and returns its stdout.
func (s *server) ovm(args ...string) (string, error) {
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "OVM_URL="+s.url, "OVM_TOKEN="+s.key)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("ovm %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (s *server) ovmJSON(v any, args ...string) {
	s.t.Helper()
	out, err := s.ovm(append(args, "--output", "json")...)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("%s: %v", out, err)
	}
}

func (s *server) pool() client.Pool {
	s.t.Helper()
	var p client.Pool
	s.ovmJSON(&p, "pool", "status", "default")
	return p
}

// eventually polls cond every 50 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) accounts() []client.Account {
	s.t.Helper()
	var page client.Page[client.Account]
	s.ovmJSON(&page, "account", "list", "--limit", "1000")
	return page.Items
}

// checkInvariants compares the simulated AWS (its state file) with the
// store: one AWS account per stored account that reached AWS, none unknown,
// no account under two active leases.
func (s *server) checkInvariants() {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "data", "sim-default.json"))
	if err != nil {
		s.t.Fatal(err)
	}
	var st struct{ Accounts []sim.Account }
	if err := json.Unmarshal(b, &st); err != nil {
		s.t.Fatal(err)
	}
	byEmail := map[string]client.Account{}
	for _, a := range s.accounts() {
		byEmail[a.Email] = a
	}
	seen := map[string]bool{}
	for _, sa := range st.Accounts {
		a, ok := byEmail[sa.Email]
		switch {
		case !ok:
			s.t.Errorf("aws account %s (%s) is unknown to the store: orphan", sa.ID, sa.Email)
		case seen[sa.Email]:
			s.t.Errorf("two aws accounts for %s: a second create", sa.Email)
		case a.AccountID != "" && a.AccountID != sa.ID:
			s.t.Errorf("store has %s as %s, aws as %s", a.ID, a.AccountID, sa.ID)
		}
		seen[sa.Email] = true
	}
	var leases client.Page[client.Lease]
	s.ovmJSON(&leases, "lease", "list", "--state", "active", "--limit", "1000")
	held := map[string]string{}
	for _, l := range leases.Items {
		if prev, dup := held[l.AccountID]; dup {
			s.t.Errorf("account %s is held by leases %s and %s", l.AccountID, prev, l.ID)
		}
		held[l.AccountID] = l.ID
	}
}

var vendRe = regexp.MustCompile(`^\{"account_id": "([0-9]{12})", "cross_account_role": "arn:aws:iam::([0-9]{12}):role/OVMCrossAccountRole"\}\n$`)

func TestServeAsANewUserWould(t *testing.T) {
	s := newServer(t, fastConfig)
	s.start()
	eventually(t, 15*time.Second, "the target stock", func() bool { return s.pool().Ready == 3 })

	vended := map[string]bool{}
	r := s.do("GET", "/vend", s.key, "")
	m := vendRe.FindSubmatch(r.body)
	if r.status != 200 || m == nil || string(m[1]) != string(m[2]) {
		t.Fatalf("GET /vend: %d %q", r.status, r.body)
	}
	vended[string(m[1])] = true
	if r := s.do("GET", "/vend", "", ""); r.status != 401 {
		t.Fatalf("without a key: %d", r.status)
	}
	var k client.Key
	s.ovmJSON(&k, "key", "create", "ci-bot", "--role", "user")
	if r := s.do("GET", "/v1/accounts", k.Key, ""); r.status != 403 {
		t.Fatalf("user key on an admin route: %d %s", r.status, r.body)
	}
	r = s.do("GET", "/vend", k.Key, "")
	if m = vendRe.FindSubmatch(r.body); r.status != 200 || m == nil || vended[string(m[1])] {
		t.Fatalf("user key on /vend: %d %s", r.status, r.body)
	}
	vended[string(m[1])] = true
	if strings.Contains(s.stderr.String(), s.key) || strings.Contains(s.stderr.String(), k.Key) {
		t.Fatal("a key reached the log")
	}

	// Drain the stock concurrently twice: nothing is vended twice, the
	// empty stock answers 503 + Retry-After, and the refill stops at the
	// ceiling of 6 live accounts (2 leased above + 3 + 1).
	for round := range 2 {
		eventually(t, 15*time.Second, "the stock to refill", func() bool {
			p := s.pool()
			return p.Ready == 3 || p.InFlight == 0 && p.Live >= 6
		})
		var mu sync.Mutex
		var wg sync.WaitGroup
		got503 := 0
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := s.do("GET", "/vend", s.key, "")
				mu.Lock()
				defer mu.Unlock()
				if r.status == 503 {
					if r.header.Get("Retry-After") == "" {
						t.Error("503 without Retry-After")
					}
					got503++
					return
				}
				m := vendRe.FindSubmatch(r.body)
				if m == nil {
					t.Errorf("vend: %d %s", r.status, r.body)
					return
				}
				if vended[string(m[1])] {
					t.Errorf("round %d: account %s vended twice", round, m[1])
				}
				vended[string(m[1])] = true
			}()
		}
		wg.Wait()
		if got503 == 0 {
			t.Fatalf("round %d: 12 vends from a stock of 3 and no 503", round)
		}
	}
	time.Sleep(time.Second)
	p := s.pool()
	if p.Live > 6 || p.Ready != 0 || !strings.Contains(p.HeldBack, "ceiling") {
		t.Fatalf("at the ceiling: live %d ready %d held back %q", p.Live, p.Ready, p.HeldBack)
	}
	if len(vended) != 6 {
		t.Fatalf("%d distinct accounts vended, want 6", len(vended))
	}
	s.checkInvariants()
}

// TestTheEmbeddedDefaultFillsItsStock runs `ovm serve` without a config,
// as the README does (on a free port), and waits for the default stock.
func TestTheEmbeddedDefaultFillsItsStock(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := &server{t: t, dir: t.TempDir()}
	s.startArgs([]string{"serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(s.dir, "data")})
	start := time.Now()
	eventually(t, 60*time.Second, "10 ready accounts", func() bool { return s.pool().Ready == embeddedTarget })
	t.Logf("default stock of %d ready after %s", embeddedTarget, time.Since(start).Round(100*time.Millisecond))
	st, err := os.Stat(filepath.Join(s.dir, "data", "admin.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.key: %v %v", st, err)
	}
	if r := s.do("GET", "/vend", s.key, ""); r.status != 200 || !vendRe.Match(r.body) {
		t.Fatalf("vend: %d %s", r.status, r.body)
	}
	theREADMEsWalkthrough(t, s)
}

// theREADMEsWalkthrough follows the README on the embedded default, as a
// newcomer would: nothing on the way runs out of stock or hides a lease id.
func theREADMEsWalkthrough(t *testing.T, s *server) {
	// ovm vend names its lease, and the lease goes back by its AWS account id.
	code, out, errOut := s.run(nil, "vend")
	id, acct := leaseIDRe.FindString(out), regexp.MustCompile(`\b[0-9]{12}\b`).FindString(out)
	if code != 0 || id == "" || acct == "" || !strings.Contains(out, "ovm lease release "+id) {
		t.Fatalf("vend: exit %d %q %q", code, out, errOut)
	}
	if code, out, errOut := s.run(nil, "lease", "release", acct); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "ended") {
		t.Fatalf("lease release %s: exit %d %q %q", acct, code, out, errOut)
	}
	// The README's lease, exec, credentials and console.
	code, out, errOut = s.run(nil, "lease", "create", "--ttl", "2h", "--label", "team=platform")
	id = leaseIDRe.FindString(out)
	if code != 0 || id == "" || !strings.Contains(out, "team=platform") {
		t.Fatalf("lease create: exit %d %q %q", code, out, errOut)
	}
	// The default TTL (24h) is longer than a session: exec says it chose
	// the endpoint, and env shows it rather than AWS_ACCESS_KEY_ID.
	code, out, errOut = s.run(nil, "lease", "exec", "--", "env")
	if code != 0 || !strings.Contains(out, "AWS_CONTAINER_CREDENTIALS_FULL_URI=") || strings.Contains(out, "AWS_ACCESS_KEY_ID=") ||
		!strings.Contains(errOut, "credentials from a loopback endpoint") || !strings.Contains(errOut, "--credentials env for static keys") {
		t.Fatalf("lease exec -- env: exit %d\n%s\nstderr %q", code, out, errOut)
	}
	code, out, errOut = s.run(nil, "lease", "credentials", id, "--format", "env")
	if code != 0 || !strings.Contains(out, "export AWS_DEFAULT_REGION='us-east-1'") || !strings.Contains(out, "export AWS_REGION='us-east-1'") ||
		!strings.Contains(errOut, "simulated") {
		t.Fatalf("credentials --format env: exit %d %q %q", code, out, errOut)
	}
	// The simulated console says so, and --open shows the console's page
	// about it rather than a host that does not exist ($BROWSER opens it).
	opened := filepath.Join(t.TempDir(), "opened")
	browser := filepath.Join(t.TempDir(), "browser")
	if err := os.WriteFile(browser, []byte("#!/bin/sh\necho \"$1\" > "+opened+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = s.run([]string{"BROWSER=" + browser}, "lease", "console", id, "--open")
	local := s.url + "/ui/simulated-console?lease=" + id
	if code != 0 || !strings.Contains(out, "https://") || !strings.Contains(errOut, "this console is simulated") || !strings.Contains(errOut, local) {
		t.Fatalf("lease console: exit %d %q %q", code, out, errOut)
	}
	eventually(t, 5*time.Second, "the browser to open the simulated console page", func() bool {
		b, _ := os.ReadFile(opened)
		return strings.TrimSpace(string(b)) == local
	})
	if r := s.do("GET", "/ui/simulated-console?lease="+id, "", ""); r.status >= 500 || r.status == 404 {
		t.Fatalf("the simulated console page: %d", r.status)
	}
	// Everything the README did, and the stock is not gone.
	if p := s.pool(); p.Ready+p.InFlight < 5 {
		t.Fatalf("after the walkthrough: %d ready, %d in flight", p.Ready, p.InFlight)
	}

	// A second server on the same address names the flag that moves it.
	addr := strings.TrimPrefix(s.url, "http://")
	cmd := exec.Command(binPath, "serve", "--listen", addr, "--data", filepath.Join(t.TempDir(), "data"))
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "already in use") || !strings.Contains(string(b), "--listen") {
		t.Fatalf("a second ovm serve on %s: %v %s", addr, err, b)
	}
}

func TestLeasesExpireAreReleasedAndExtendWithinMaxTTL(t *testing.T) {
	s := newServer(t, fastConfig)
	s.start()
	eventually(t, 15*time.Second, "the target stock", func() bool { return s.pool().Ready == 3 })

	var short client.Lease
	s.ovmJSON(&short, "lease", "create", "--ttl", "1s", "--label", "test=expiry")
	var early client.Lease
	s.ovmJSON(&early, "lease", "create", "--ttl", "1h")

	// Extend within max_ttl (2h after creation), then beyond it.
	var ext client.Lease
	s.ovmJSON(&ext, "lease", "extend", early.ID, "--by", "30m")
	if !ext.ExpiresAt.Equal(early.ExpiresAt.Add(30 * time.Minute)) {
		t.Fatalf("extended to %s", ext.ExpiresAt)
	}
	_, err := s.ovm("lease", "extend", early.ID, "--by", "1h")
	if err == nil || !strings.Contains(err.Error(), "max_ttl") || !strings.Contains(err.Error(), "400") {
		t.Fatalf("extend beyond max_ttl: %v", err)
	}

	s.ovmJSON(&ext, "lease", "release", early.ID)
	if ext.State != "ended" || ext.EndReason != "released" {
		t.Fatalf("release: %+v", ext)
	}
	for _, l := range []client.Lease{short, early} {
		var a client.Account
		eventually(t, 15*time.Second, "account "+l.AccountID+" closed", func() bool {
			s.ovmJSON(&a, "account", "get", l.AccountID)
			return a.State == "closed"
		})
		var path []string
		for _, e := range a.Events {
			if e.Kind == "account" && e.From != e.To { // not the revocation's closing -> closing
				path = append(path, e.To)
			}
		}
		if strings.Join(path, ",") != "closed,closing,leased,ready,bootstrapping,creating,pending" {
			t.Fatalf("events of %s, newest first: %v", a.ID, path)
		}
	}
	var got client.Lease
	s.ovmJSON(&got, "lease", "get", short.ID)
	if got.EndReason != "expired" {
		t.Fatalf("short lease ended %q", got.EndReason)
	}
	if time.Since(got.ExpiresAt) > 10*time.Second {
		t.Fatalf("lease expired at %s but is only now seen ended", got.ExpiresAt)
	}
	out, _ := s.ovm("account", "get", short.AccountID)
	if !strings.Contains(out, "leased") || !strings.Contains(out, "expired") {
		t.Fatalf("account get table lacks the event log:\n%s", out)
	}
}

// crashConfig expires leases quickly so every crash point is reached.
const crashConfig = `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
pools:
  - name: default
    stock: {target: 3, ceiling: 10}
    lease: {default_ttl: 1s, max_ttl: 1h, min_ttl: 1s}
    retry: {base_delay: 100ms, max_delay: 1s}
    sim: {create_latency: 200ms, bootstrap_latency: 100ms, close_latency: 100ms}
`

func TestKillNineAtEveryCrashPointLosesNothing(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	points := []string{"planner.after-insert", "runner.after-claim", "runner.after-call:pending",
		"runner.after-call:creating", "runner.after-call:bootstrapping", "runner.after-call:revoke", "runner.after-call:closing", "expirer.before-end"}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			s := newServer(t, crashConfig)
			s.start("OVM_TEST_CRASH_POINT="+point, "OVM_TEST_CRASH_AFTER=2")
			// Vend now and then so leases expire and accounts close.
			stop := make(chan struct{})
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(300 * time.Millisecond):
						s.do("GET", "/vend", s.key, "")
					}
				}
			}()
			err := s.waitExit(20 * time.Second)
			close(stop)
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("process ended with %v, want SIGKILL at the crash point\n%s", err, s.stderr.String())
			}
			s.start()
			eventually(t, 20*time.Second, "every account to settle", func() bool {
				for _, a := range s.accounts() {
					if a.State != "ready" && a.State != "leased" && a.State != "closed" {
						return false
					}
				}
				return s.pool().Ready == 3
			})
			s.checkInvariants()
		})
	}
}

func TestRandomKillsUnderLoadLoseNoLease(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := newServer(t, strings.Replace(crashConfig, "default_ttl: 1s", "default_ttl: 1h", 1))
	granted := map[string]string{} // lease id -> aws account id, as answered to the client
	for round := range 5 {
		s.start()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					r := s.do("POST", "/v1/leases", s.key, `{"ttl":"1h"}`)
					if r.status == 201 {
						var l client.Lease
						json.Unmarshal(r.body, &l)
						mu.Lock()
						granted[l.ID] = l.AccountID
						mu.Unlock()
						s.do("DELETE", "/v1/leases/"+l.ID, s.key, "")
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
		time.Sleep(time.Duration(300+round*250) * time.Millisecond)
		s.kill()
		close(stop)
		wg.Wait()
	}
	s.start()
	if len(granted) == 0 {
		t.Fatal("no lease was granted under load; the test proves nothing")
	}
	for id, acct := range granted {
		var l client.Lease
		s.ovmJSON(&l, "lease", "get", id)
		if l.AccountID != acct {
			t.Errorf("lease %s answered with account %s, stored with %s", id, acct, l.AccountID)
		}
	}
	eventually(t, 20*time.Second, "the stock to settle", func() bool {
		for _, a := range s.accounts() {
			if a.State != "ready" && a.State != "leased" && a.State != "closed" {
				return false
			}
		}
		return true
	})
	s.checkInvariants()
}

func TestAtThirtyPercentFailuresAccountsQuarantineAndRetryBringsThemBack(t *testing.T) {
	s := newServer(t, `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
pools:
  - name: default
    stock: {target: 10, ceiling: 60, max_in_flight: 10}
    retry: {max_attempts: 2, base_delay: 50ms, max_delay: 100ms}
    sim: {create_latency: 100ms, bootstrap_latency: 100ms, failure_rate: 0.3, max_in_flight: 0}
`)
	s.start()
	settled := func() bool {
		p := s.pool()
		return p.Ready == 10 && p.InFlight == 0
	}
	eventually(t, 30*time.Second, "the stock despite failures", settled)
	quarantined := 0
	for _, a := range s.accounts() {
		switch a.State {
		case "ready":
		case "quarantined":
			quarantined++
			if !strings.Contains(a.LastError, "injected") {
				t.Errorf("quarantined %s without its last error: %q", a.ID, a.LastError)
			}
		default:
			t.Errorf("account %s is %s", a.ID, a.State)
		}
	}
	if quarantined == 0 {
		t.Fatal("nothing was quarantined at 30 % failures and two attempts per step")
	}
	s.checkInvariants()
	// An operator retries until every account is back (failures go on at
	// 30 %, so some need more than one retry).
	for round := 0; ; round++ {
		left := 0
		for _, a := range s.accounts() {
			if a.State == "quarantined" {
				left++
				if _, err := s.ovm("account", "retry", a.ID); err != nil && !strings.Contains(err.Error(), "409") {
					t.Fatal(err)
				}
			}
		}
		if left == 0 {
			break
		}
		if round > 40 {
			t.Fatalf("%d accounts still quarantined after 40 rounds of retries", left)
		}
		time.Sleep(400 * time.Millisecond)
	}
	for _, a := range s.accounts() {
		if a.State != "ready" && a.State != "quarantined" {
			// In flight right after a retry is fine; wait for it below.
			eventually(t, 10*time.Second, "retried account "+a.ID, func() bool {
				var got client.Account
				s.ovmJSON(&got, "account", "get", a.ID)
				return got.State == "ready" || got.State == "quarantined"
			})
		}
	}
	s.checkInvariants()
}

func TestSIGTERMFinishesStepsAndRestartContinues(t *testing.T) {
	s := newServer(t, strings.Replace(fastConfig, "create_latency: 300ms", "create_latency: 2s", 1))
	s.start()
	eventually(t, 10*time.Second, "creations in flight", func() bool { return s.pool().InFlight > 0 })
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.waitExit(20 * time.Second); err != nil {
		t.Fatalf("SIGTERM exit: %v\n%s", err, s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "shutdown complete") {
		t.Fatalf("no clean shutdown:\n%s", s.stderr.String())
	}
	s.start()
	eventually(t, 20*time.Second, "the stock after a restart", func() bool { return s.pool().Ready == 3 })
	s.checkInvariants()
}

func TestABadConfigFailsAtStartNamingTheKey(t *testing.T) {
	s := newServer(t, "pools:\n  - name: default\n    stock: {taget: 3}\n")
	cmd := exec.Command(binPath, "serve", "--config", s.cfg)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "pools[0].stock.taget: unknown key") {
		t.Fatalf("err %v, output %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "data")); err == nil {
		t.Fatal("a bad config still created the data directory")
	}
}

func TestTheClientNeedsAServerAndSaysSo(t *testing.T) {
	cmd := exec.Command(binPath, "pool", "list")
	cmd.Env = append(os.Environ(), "OVM_URL=http://127.0.0.1:1", "OVM_TOKEN=x")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "connection refused") || !strings.Contains(string(out), "is `ovm serve` running?") ||
		!strings.Contains(string(out), "OVM_URL or --url") || cmd.ProcessState.ExitCode() != exitUnavailable {
		t.Fatalf("err %v, output %s", err, out)
	}
	cmd = exec.Command(binPath, "lease", "frobnicate")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "use one of budget, console, create, credentials, events, exec, extend, freeze, get, list, release, unfreeze") {
		t.Fatalf("unknown command: %v %s", err, out)
	}
}
