package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// Three replicas on DynamoDB, each with the simulated AWS's feed, which
// makes every lease's launch event again under the same id whenever its
// replica leads the spend worker: when the spend leader is killed, the
// next one takes the same events in again, and each counts once (each
// ledger is written when opened, once for its launch and once for its end).
func TestThreeReplicasCountEachSpendEventOnceWhenTheLeaderIsKilled(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	rs := newReplicaSetOnDynalite(t, 3, `spend: {interval: 100ms, late_events: 1s}
pools:
  - name: default
    stock: {target: 4, ceiling: 12}
    lease: {default_ttl: 1h, max_ttl: 2h, min_ttl: 1s}
    sim: {create_latency: 0s, bootstrap_latency: 0s, close_latency: 0s, spend_per_hour: 3600}
`)
	s0 := rs.nodes[0]
	eventually(t, 60*time.Second, "a stock of 4", func() bool { return s0.pool().Ready >= 4 })
	var leases []string
	for i := range 4 {
		node := rs.nodes[i%3]
		r := node.do("POST", "/v1/leases", node.key, `{}`)
		if r.status != 201 && r.status != 200 {
			t.Fatalf("lease: %d %s", r.status, r.body)
		}
		var l struct{ ID string }
		if err := json.Unmarshal(r.body, &l); err != nil || l.ID == "" {
			t.Fatalf("lease: %s", r.body)
		}
		leases = append(leases, l.ID)
	}
	ledgers := func() map[string]*ovm.SpendLedger {
		out := map[string]*ovm.SpendLedger{}
		for _, id := range leases {
			if g, err := rs.store.SpendGet(context.Background(), id); err == nil {
				out[id] = g
			}
		}
		return out
	}
	eventually(t, 30*time.Second, "a ledger per lease", func() bool { return len(ledgers()) == len(leases) })
	holder, until, err := rs.store.Leader(context.Background(), "spend")
	if err != nil || time.Now().After(until) {
		t.Fatalf("no spend leader: %q %v", holder, err)
	}
	var victim *server
	for _, s := range rs.nodes {
		if filepath.Base(s.cfg) == holder+".yaml" {
			victim = s
		}
	}
	victim.kill()
	eventually(t, 30*time.Second, "another spend leader", func() bool {
		h, until, err := rs.store.Leader(context.Background(), "spend")
		return err == nil && h != holder && h != "" && time.Now().Before(until)
	})
	time.Sleep(2 * time.Second) // the new leader's feed has made the launches again, and they were taken in
	live := rs.nodes[0]
	if live == victim {
		live = rs.nodes[1]
	}
	for _, id := range leases {
		if r := live.do("DELETE", "/v1/leases/"+id, live.key, ""); r.status != 200 {
			t.Fatalf("release %s: %d %s", id, r.status, r.body)
		}
	}
	eventually(t, 30*time.Second, "every ledger closed", func() bool {
		for _, g := range ledgers() {
			if !g.Final {
				return false
			}
		}
		return true
	})
	for id, g := range ledgers() {
		// Written when opened, once per event it took (the launch, and the
		// termination when CloudTrail's second puts it within the lease),
		// and at its end; an event applied twice would be seen twice.
		seen := map[string]int{}
		for _, h := range g.Seen {
			seen[h]++
		}
		b, _ := json.Marshal(g)
		if len(g.Resources) != 1 || len(seen) != len(g.Seen) || len(g.Seen) < 1 || g.Version != int64(2+len(g.Seen)) {
			t.Errorf("lease %s: %d resources, version %d, events seen %v; want each event counted once\n%s", id, len(g.Resources), g.Version, seen, b)
		}
		if s := g.Summarize(time.Now()); s.USD <= 0 || s.BurnUSDPerHour != 0 {
			t.Errorf("lease %s: spend %+v", id, s)
		}
	}
}
