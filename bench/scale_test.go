package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

// scaleStore is a SQLite store in dir holding n accounts of pool default,
// most of them closed, as a pool looks after a long life: 2 % leased, 1 %
// ready, the rest closed.
func scaleStore(b *testing.B, dir string, n int) {
	s, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "ovm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	for start := 0; start < n; start += 5000 {
		var accts []*ovm.Account
		for i := start; i < min(n, start+5000); i++ {
			id := ovm.NewID("acc", now)
			awsID := fmt.Sprintf("%012d", 100000000000+i)
			a := ovm.NewPendingAccount(id, "default", "n-"+id, id+"@scale.invalid", now.Add(-time.Duration(n-i)*time.Minute))
			a.AWSAccountID, a.RoleARN = awsID, ovm.RoleARN(awsID, ovm.DefaultRoleName)
			switch {
			case i%100 == 0:
				a.State = ovm.AccountReady
			default:
				a.State = ovm.AccountClosed
			}
			accts = append(accts, a)
		}
		if err := s.AccountImport(context.Background(), accts, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

var scaleAccounts = 100000

// BenchmarkScale starts the real binary on a store of 100,000 accounts and
// reports its start time and resident memory, the p99 of GET
// /v1/pools/{name} and GET /v1/accounts?state=ready, and the engine's tick
// (make bench).
func BenchmarkScale(b *testing.B) {
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		b.Fatal(err)
	}
	scaleStore(b, data, scaleAccounts)
	bin := filepath.Join(dir, "ovm")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/ovm").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "ovm.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\ndata_dir: "+data+"\npools:\n  - name: default\n    stock: {target: 1000, ceiling: 5000}\n"), 0o600)
	for range b.N {
		start := time.Now()
		cmd := exec.Command(bin, "serve", "--config", cfg)
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var url string
		for sc.Scan() {
			if m := regexp.MustCompile(`ovm listening on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				url = m[1]
				break
			}
		}
		started := time.Since(start)
		go io.Copy(io.Discard, out)
		key, _ := os.ReadFile(filepath.Join(data, "admin.key"))
		get := func(path string) time.Duration {
			req, _ := http.NewRequest("GET", url+path, nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
			t := time.Now()
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Fatalf("%s: %d", path, res.StatusCode)
			}
			return time.Since(t)
		}
		p99 := func(path string) time.Duration {
			var lat []time.Duration
			for range 200 {
				lat = append(lat, get(path))
			}
			slices.Sort(lat)
			return lat[len(lat)*99/100]
		}
		pools, ready := p99("/v1/pools/default"), p99("/v1/accounts?state=ready")
		time.Sleep(2 * time.Second) // a few ticks: the planner orders toward its target
		rss := residentKiB(b, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		b.ReportMetric(started.Seconds()*1000, "start-ms")
		b.ReportMetric(float64(rss)/1024, "rss-MiB")
		b.ReportMetric(float64(pools.Microseconds())/1000, "pools-p99-ms")
		b.ReportMetric(float64(ready.Microseconds())/1000, "ready-p99-ms")
	}

	// The tick, in process, on the same store.
	st, err := sqlitestore.Open(context.Background(), filepath.Join(data, "ovm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p, _ := sim.New(sim.Config{}, nil)
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 1000, Ceiling: 5000}}.WithDefaults()
	eng, err := engine.New(st, []engine.Pool{{Policy: pol, Provider: p}}, ovm.SystemClock(), slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var ticks []time.Duration
	for range 30 {
		t := time.Now()
		if err := eng.Tick(context.Background()); err != nil {
			b.Fatal(err)
		}
		ticks = append(ticks, time.Since(t))
	}
	slices.Sort(ticks)
	b.ReportMetric(float64(ticks[len(ticks)/2].Microseconds())/1000, "tick-p50-ms")
	b.ReportMetric(float64(ticks[len(ticks)*99/100].Microseconds())/1000, "tick-p99-ms")
}

// residentKiB is a process's resident memory (VmRSS).
func residentKiB(b *testing.B, pid int) int {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(s), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
