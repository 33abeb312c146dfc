package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/store/dynamostore"
)

// replicaSet is several `ovm serve` sharing one DynamoDB table (moto) and
// one data directory (the admin key and the simulated AWS).
type replicaSet struct {
	t     *testing.T
	dir   string
	table string
	store *dynamostore.Store
	nodes []*server
	moto  *mototest.Server
}

func newReplicaSet(t *testing.T, n int, pool string) *replicaSet {
	srv := mototest.Require(t)
	return newReplicaSetAt(t, n, pool, srv.URL, srv.Config(), srv)
}

// newReplicaSetOnDynalite is a replica set whose table is in dynalite,
// which serves requests concurrently (moto serves one at a time): for a
// set that needs no other AWS service.
func newReplicaSetOnDynalite(t *testing.T, n int, pool string) *replicaSet {
	srv := dynalitetest.Require(t)
	return newReplicaSetAt(t, n, pool, srv.URL, srv.Config(), nil)
}

func newReplicaSetAt(t *testing.T, n int, pool, endpoint string, awsCfg aws.Config, moto *mototest.Server) *replicaSet {
	rs := &replicaSet{t: t, dir: t.TempDir(), table: fmt.Sprintf("ovm-replicas-%d", time.Now().UnixNano()), moto: moto}
	for i := range n {
		cfg := filepath.Join(rs.dir, fmt.Sprintf("r%d.yaml", i))
		body := fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
store: dynamodb
dynamodb: {table: %s, create_table: true}
aws: {region: us-east-1, endpoint: %q}
api: {leases_per_owner: 0}
engine: {tick: 1s, claim_ttl: 4s, step_timeout: 1s, leader_ttl: 5s, instance: r%d}
%s`, filepath.Join(rs.dir, "data"), rs.table, endpoint, i, pool)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		rs.nodes = append(rs.nodes, &server{t: t, dir: rs.dir, cfg: cfg})
	}
	env := []string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	for _, s := range rs.nodes { // one after the other: the first creates the table and the admin key
		s.start(env...)
	}
	var err error
	rs.store, err = dynamostore.Open(context.Background(), dynamodb.NewFromConfig(awsCfg), dynamostore.Options{Table: rs.table})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// accounts reads every account from the table.
func (rs *replicaSet) accounts() []*ovm.Account {
	var all []*ovm.Account
	p := &ovm.AccountListParams{PageParams: ovm.PageParams{Limit: 1000}}
	for {
		page, next, err := rs.store.AccountList(context.Background(), p)
		if err != nil {
			rs.t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		p.Cursor = next
	}
}

func (rs *replicaSet) leader() string {
	holder, until, err := rs.store.Leader(context.Background(), "planner")
	if err != nil {
		rs.t.Fatal(err)
	}
	if time.Now().After(until) {
		return ""
	}
	return holder
}

func TestThreeReplicasOnDynamoDBLoseNothingWhenOneIsKilled(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	rs := newReplicaSetOnDynalite(t, 3, `pools:
  - name: default
    stock: {target: 20, ceiling: 3000, max_in_flight: 20}
    sim: {create_latency: 0s, bootstrap_latency: 0s, close_latency: 0s, max_in_flight: 0, call_delay: 300ms}
`)
	s0 := rs.nodes[0]
	start := time.Now()
	eventually(t, 90*time.Second, "the stock of 20 on DynamoDB", func() bool { return s0.pool().Ready >= 20 })
	t.Logf("stock of 20 ready after %s", time.Since(start).Round(100*time.Millisecond))

	// 600 vends from 40 clients, spread over the replicas; the planner's
	// replica is killed a third of the way through.
	// The planner's lease may lapse for a moment on a loaded machine (its
	// holder renews it late): wait for one to hold it.
	var leader string
	eventually(t, 30*time.Second, "a planner leader", func() bool { leader = rs.leader(); return leader != "" })
	var victim *server
	for _, s := range rs.nodes {
		if filepath.Base(s.cfg) == leader+".yaml" {
			victim = s
		}
	}
	if victim == nil {
		t.Fatalf("no leader found (%q)", leader)
	}
	claimedByVictim := map[string]ovm.AccountState{}
	var (
		next    atomic.Int64
		mu      sync.Mutex
		granted = map[string]int{}
		empty   atomic.Int64
		dead    atomic.Bool
		wg      sync.WaitGroup
	)
	const total = 600
	for w := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				if i == total/3 && dead.CompareAndSwap(false, true) {
					victim.kill()
					// What the dead replica held at its death.
					for _, a := range rs.accounts() {
						if a.ClaimedBy == leader {
							mu.Lock()
							claimedByVictim[a.ID] = a.State
							mu.Unlock()
						}
					}
				}
				node := rs.nodes[(int(i)+w)%len(rs.nodes)]
				if node == victim && dead.Load() {
					node = rs.nodes[(int(i)+w+1)%len(rs.nodes)]
					if node == victim {
						node = rs.nodes[(int(i)+w+2)%len(rs.nodes)]
					}
				}
				r := node.do("GET", "/vend", node.key, "")
				switch {
				case r.status == 503:
					empty.Add(1)
				case r.status == 200:
					m := vendRe.FindSubmatch(r.body)
					mu.Lock()
					granted[string(m[1])]++
					mu.Unlock()
				case r.status == -1 && node == victim:
				default:
					t.Errorf("vend via %s: %d %s", node.cfg, r.status, r.body)
				}
			}
		}()
	}
	wg.Wait()
	for id, n := range granted {
		if n > 1 {
			t.Errorf("account %s vended %d times", id, n)
		}
	}
	t.Logf("%d vends granted, %d answered empty; %d accounts claimed by the killed replica %s", len(granted), empty.Load(), len(claimedByVictim), leader)
	if len(granted) < 20 {
		t.Fatalf("only %d vends succeeded", len(granted))
	}

	// Another replica takes over planning, and the killed replica's claims
	// lapse and its work is finished.
	live := rs.nodes[0]
	if live == victim {
		live = rs.nodes[1]
	}
	eventually(t, 90*time.Second, "the stock refilled by another leader", func() bool {
		p := live.pool()
		return p.Ready >= 20 && p.InFlight == 0
	})
	eventually(t, 30*time.Second, "another replica leading", func() bool {
		l := rs.leader()
		return l != "" && l != leader
	})
	held := map[string]bool{}
	for _, a := range rs.accounts() {
		switch a.State {
		case ovm.AccountReady, ovm.AccountLeased:
		default:
			t.Errorf("account %s is %s", a.ID, a.State)
		}
		if from, ok := claimedByVictim[a.ID]; ok && (a.ClaimedBy == leader || a.State == from) {
			t.Errorf("account %s, claimed by the dead replica in %s, is still %s claimed by %q", a.ID, from, a.State, a.ClaimedBy)
		}
		if a.State == ovm.AccountLeased {
			if held[a.LeaseID] {
				t.Errorf("lease %s holds two accounts", a.LeaseID)
			}
			held[a.LeaseID] = true
		}
	}
	if len(held) != len(granted) {
		// Every lease answered to a client is in the store, and nothing else
		// is leased (vends cut off by the kill may add leases nobody saw).
		t.Logf("%d leased accounts in the store for %d answered vends", len(held), len(granted))
		if len(held) < len(granted) {
			t.Fatalf("leases lost: %d answered, %d in the store", len(granted), len(held))
		}
	}
	// And the simulated AWS holds exactly one account per stored account.
	live.checkInvariants()
	_ = aws.String
}
