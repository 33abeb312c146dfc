package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovmdev/ovm/client"
)

func TestConfigValuesReachTheAPI(t *testing.T) {
	s := newServer(t, `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
api: {leases_per_owner: 2, max_body_bytes: 1024, max_wait: 2s}
pools:
  - name: only
    stock: {target: 3, ceiling: 6}
    retry: {base_delay: 100ms, max_delay: 1s}
    sim: {create_latency: 100ms, bootstrap_latency: 100ms}
`)
	s.start()
	eventually(t, 30*time.Second, "a stock of 3", func() bool {
		var p client.Pool
		s.ovmJSON(&p, "pool", "status", "only")
		return p.Ready >= 3
	})
	// api.default_pool defaults to the only pool: GET /vend leases from it.
	if r := s.do("GET", "/vend", s.key, ""); r.status != 200 {
		t.Fatalf("vend: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/v1/leases", s.key, `{}`); r.status != 201 {
		t.Fatalf("second lease: %d %s", r.status, r.body)
	}
	r := s.do("POST", "/v1/leases", s.key, `{}`)
	if r.status != 429 || !strings.Contains(string(r.body), "2 active leases") {
		t.Fatalf("third lease of a key limited to 2: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/v1/leases", s.key, `{"labels":{"a":"`+strings.Repeat("x", 1100)+`"}}`); r.status != 413 {
		t.Fatalf("a body over max_body_bytes 1024: %d %s", r.status, r.body)
	}
	if r := s.do("POST", "/v1/leases", s.key, `{"wait":"3s"}`); r.status != 400 || !strings.Contains(string(r.body), "maximum 2s") {
		t.Fatalf("a wait over max_wait 2s: %d %s", r.status, r.body)
	}
}

// A restart orders at once: the planner's leader lease of the process
// before does not hold the new one back. leader_ttl is an hour here, so a
// lease left behind would stop the refill for an hour.
func TestARestartOrdersAtOnce(t *testing.T) {
	s := newServer(t, `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s, leader_ttl: 1h}
pools:
  - name: default
    stock: {target: 3, ceiling: 12}
    lease: {max_per_owner: 12}
    retry: {base_delay: 100ms, max_delay: 1s}
    sim: {create_latency: 100ms, bootstrap_latency: 100ms}
`)
	s.start()
	for _, stop := range []string{"kill -9", "SIGTERM"} {
		eventually(t, 30*time.Second, "a full stock", func() bool { p := s.pool(); return p.Ready >= 3 && p.InFlight == 0 })
		if stop == "kill -9" {
			s.kill()
		} else {
			s.cmd.Process.Signal(syscall.SIGTERM)
			if err := s.waitExit(30 * time.Second); err != nil {
				t.Fatalf("SIGTERM: %v", err)
			}
		}
		s.start()
		before := len(s.accounts())
		drained := time.Now()
		for range 3 {
			if r := s.do("GET", "/vend", s.key, ""); r.status != 200 {
				t.Fatalf("drain: %d %s", r.status, r.body)
			}
		}
		eventually(t, 30*time.Second, "an order after the restart ("+stop+")", func() bool { return len(s.accounts()) > before })
		var first time.Time
		for _, a := range s.accounts()[before:] {
			if first.IsZero() || a.CreatedAt.Before(first) {
				first = a.CreatedAt
			}
		}
		t.Logf("after %s and a restart: first order %s after the stock was drained", stop, first.Sub(drained).Round(time.Millisecond))
		var p client.Pool
		s.ovmJSON(&p, "pool", "status", "default")
		if p.HeldBack != "" && strings.Contains(p.HeldBack, "leader") {
			t.Fatalf("held back: %s", p.HeldBack)
		}
	}
}

// SIGTERM does not wait for vends waiting for stock: they answer 503 and the
// process stops cleanly (shutdown_timeout is an hour here).
func TestSIGTERMDoesNotWaitForWaitingVends(t *testing.T) {
	s := newServer(t, `
shutdown_timeout: 1h
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
pools:
  - name: default
    stock: {target: 0}
`)
	s.start()
	done := make(chan answer, 1)
	go func() { done <- s.do("POST", "/v1/leases", s.key, `{"wait":"5m"}`) }()
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.waitExit(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM with a waiting vend: %v\n%s", err, s.stderr.String())
	}
	r := <-done
	if r.status != 503 || !strings.Contains(string(r.body), "shutting down") {
		t.Fatalf("the waiting vend: %d %s", r.status, r.body)
	}
	if strings.Contains(s.stderr.String(), "shutdown incomplete") {
		t.Fatalf("shutdown incomplete:\n%s", s.stderr.String())
	}
}
