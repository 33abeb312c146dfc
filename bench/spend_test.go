package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/spend/cloudtrail"
	"github.com/ovmdev/ovm/spend/prices"
	"github.com/ovmdev/ovm/store/dynamostore"
)

var (
	spendEvents = flag.Int("spend-events", 2000, "events taken in per measurement")
	spendLeases = flag.Int("spend-leases", 20, "active leases the events spread over")
)

// timedQueue is an in-memory queue that notes when each message was put
// and when it was acknowledged (after its ledger's write): the time from
// an event arriving on the queue to the lease's spend showing it.
type timedQueue struct {
	mu    sync.Mutex
	queue []cloudtrail.Message
	put   map[string]time.Time
	lat   []time.Duration
}

func (q *timedQueue) add(body []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := strconv.Itoa(len(q.put))
	q.put[h] = time.Now()
	q.queue = append(q.queue, cloudtrail.Message{Handle: h, Body: body})
}

func (q *timedQueue) Receive(context.Context) ([]cloudtrail.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.queue), 10)
	out := slices.Clone(q.queue[:n])
	q.queue = q.queue[n:]
	return out, nil
}

func (q *timedQueue) Delete(_ context.Context, handles []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, h := range handles {
		q.lat = append(q.lat, time.Since(q.put[h]))
	}
	return nil
}

// spendEngine is an engine on s whose spend worker reads q.
func spendEngine(b *testing.B, s ovm.Store, q *timedQueue, interval time.Duration) *engine.Engine {
	b.Helper()
	p, _ := sim.New(sim.Config{}, ovm.SystemClock())
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 0}}.WithDefaults()
	eng, err := engine.New(s, []engine.Pool{{Policy: pol, Provider: p}}, ovm.SystemClock(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		engine.Config{Instance: "bench", Spend: engine.SpendConfig{Interval: interval,
			Sources: []ovm.SpendSource{&cloudtrail.Source{Queue: q, Parser: &cloudtrail.Parser{Prices: prices.Default()}}}}})
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

// leased vends n leases on s.
func leased(b *testing.B, s ovm.Store, n int) []*ovm.Lease {
	now := time.Now().UTC()
	out := make([]*ovm.Lease, n)
	for i := range out {
		l, err := s.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: "default",
			Owner: fmt.Sprintf("o%d", i), Now: now, ExpiresAt: now.Add(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = l
	}
	return out
}

func launchEvent(l *ovm.Lease, i int) []byte {
	return cloudtrail.Build(cloudtrail.Spec{ID: fmt.Sprintf("ev-%d", i), Account: l.AWSAccountID, Region: "us-east-1", At: time.Now(),
		Name: "RunInstances", Service: "ec2", Role: "dev", SourceIdentity: l.Owner,
		Response: map[string]any{"instancesSet": map[string]any{"items": []any{map[string]any{"instanceId": fmt.Sprintf("i-%d", i), "instanceType": "t3.micro"}}}}})
}

func spendStores(b *testing.B) map[string]func() importer {
	return map[string]func() importer{
		"sqlite": func() importer { return seeded(b, *spendLeases) },
		"dynamodb": func() importer {
			cfg := dynalitetest.Require(b).Config()
			s, err := dynamostore.Open(context.Background(), dynamodb.NewFromConfig(cfg),
				dynamostore.Options{Table: fmt.Sprintf("bench-%d", time.Now().UnixNano()), CreateTable: true})
			if err != nil {
				b.Fatal(err)
			}
			seed(b, s, *spendLeases)
			return s
		},
	}
}

// BenchmarkSpendAbsorb is how many events a second the ledgers absorb: a
// queue of -spend-events launches over -spend-leases leases, drained by
// the spend worker's RunOnce (ten messages a round, one compare-and-set
// per lease and round), on SQLite and on DynamoDB (dynalite).
func BenchmarkSpendAbsorb(b *testing.B) {
	for _, name := range []string{"sqlite", "dynamodb"} {
		b.Run("store="+name, func(b *testing.B) {
			for range b.N {
				s := spendStores(b)[name]()
				leases := leased(b, s, *spendLeases)
				q := &timedQueue{put: map[string]time.Time{}}
				for i := range *spendEvents {
					q.add(launchEvent(leases[i%len(leases)], i))
				}
				eng := spendEngine(b, s, q, time.Second)
				start := time.Now()
				for len(q.lat) < *spendEvents {
					if _, err := eng.RunOnce(context.Background(), engine.WorkerSpender); err != nil {
						b.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				b.ReportMetric(float64(*spendEvents)/elapsed.Seconds(), "events/s")
				b.ReportMetric(0, "ns/op")
				g, err := s.SpendGet(context.Background(), leases[0].ID)
				if err != nil || len(g.Resources) != *spendEvents/len(leases) {
					b.Fatalf("ledger of the first lease: %d resources (%v), want %d", len(g.Resources), err, *spendEvents/len(leases))
				}
			}
		})
	}
}

// BenchmarkSpendLatency is the time from an event arriving on the queue
// to the lease's spend showing it (its ledger written and the message
// acknowledged), with the engine's loops running at the default
// spend.interval (5s) and at 1s: one event every 50 ms for -spend-events/10.
func BenchmarkSpendLatency(b *testing.B) {
	for _, interval := range []time.Duration{5 * time.Second, time.Second} {
		b.Run("interval="+interval.String(), func(b *testing.B) {
			for range b.N {
				s := seeded(b, *spendLeases)
				leases := leased(b, s, *spendLeases)
				q := &timedQueue{put: map[string]time.Time{}}
				eng := spendEngine(b, s, q, interval)
				eng.Start()
				n := *spendEvents / 10
				for i := range n {
					q.add(launchEvent(leases[i%len(leases)], i))
					time.Sleep(50 * time.Millisecond)
				}
				for deadline := time.Now().Add(3 * interval); ; time.Sleep(10 * time.Millisecond) {
					q.mu.Lock()
					done := len(q.lat)
					q.mu.Unlock()
					if done >= n {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d events taken in", done, n)
					}
				}
				eng.Stop(context.Background())
				lat := slices.Clone(q.lat)
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
				b.ReportMetric(0, "ns/op")
			}
		})
	}
}
