package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovmdev/ovm/internal/testtool"
)

// TestARealPrometheusScrapesOVM runs the binary with metrics.listen and a
// real Prometheus (Debian's) scraping it, and asks Prometheus, in PromQL,
// for a pool's ready stock and for the quarantined accounts of a pool whose
// every creation fails.
func TestARealPrometheusScrapesOVM(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	bin := testtool.Require(t, "prometheus", "apt-get install -y prometheus (make deps)")
	s := newServer(t, `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
metrics: {listen: "127.0.0.1:0"}
api: {default_pool: default}
pools:
  - name: default
    stock: {target: 2, ceiling: 4}
    retry: {base_delay: 100ms, max_delay: 1s}
    sim: {create_latency: 100ms, bootstrap_latency: 100ms}
  - name: broken
    stock: {target: 1, ceiling: 4}
    retry: {max_attempts: 1, base_delay: 100ms, max_delay: 1s}
    sim: {failure_rate: 1}
`)
	s.start()
	if s.metricsURL == "" {
		t.Fatal("the server did not say where its metrics are")
	}
	target := strings.TrimSuffix(strings.TrimPrefix(s.metricsURL, "http://"), "/metrics")
	prom := startPrometheus(t, bin, target)

	query := func(q string) (float64, bool) {
		res, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, false
		}
		defer res.Body.Close()
		var body struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(res.Body).Decode(&body) != nil || body.Status != "success" || len(body.Data.Result) != 1 {
			return 0, false
		}
		var v float64
		fmt.Sscan(fmt.Sprint(body.Data.Result[0].Value[1]), &v)
		return v, true
	}
	eventually(t, 60*time.Second, "Prometheus to see a ready stock of 2", func() bool {
		v, ok := query(`ovm_stock_ready{pool="default"}`)
		return ok && v == 2
	})
	eventually(t, 60*time.Second, "Prometheus to see the broken pool's quarantined account", func() bool {
		v, ok := query(`ovm_accounts_quarantined{pool="broken"}`)
		return ok && v >= 1
	})
	if v, ok := query(`ovm_leader{lease="planner"}`); !ok || v != 1 {
		t.Errorf("planner leader as Prometheus sees it: %v %v", v, ok)
	}
}

// startPrometheus runs Prometheus scraping target every second, in its own
// directory and process group, and returns its URL once it is ready.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: ovm
    static_configs: [{targets: ["%s"]}]
`, target)), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &syncBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		if t.Failed() {
			t.Logf("prometheus:\n%s", logs.String())
		}
	})
	promURL := "http://" + addr
	eventually(t, 30*time.Second, "Prometheus to be ready", func() bool {
		res, err := http.Get(promURL + "/-/ready")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	return promURL
}
