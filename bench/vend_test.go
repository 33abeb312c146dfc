package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/metrics"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/dynamostore"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

var vends = flag.Int("vends", 2000, "vends per measurement")

// importer is a store that can be seeded in bulk.
type importer interface {
	ovm.Store
	AccountImport(ctx context.Context, accts []*ovm.Account, actor string) error
}

// seeded opens a fresh SQLite store holding n ready accounts in pool default.
func seeded(b *testing.B, n int) importer {
	b.Helper()
	s, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "ovm.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	seed(b, s, n)
	return s
}

// seededDynamo opens a fresh table in moto's DynamoDB holding n ready
// accounts.
func seededDynamo(b *testing.B, n int) importer {
	b.Helper()
	cfg := mototest.Require(b).Config()
	s, err := dynamostore.Open(context.Background(), dynamodb.NewFromConfig(cfg),
		dynamostore.Options{Table: fmt.Sprintf("bench-%d", time.Now().UnixNano()), CreateTable: true})
	if err != nil {
		b.Fatal(err)
	}
	seed(b, s, n)
	return s
}

func seed(b *testing.B, s importer, n int) {
	now := time.Now().UTC()
	accts := make([]*ovm.Account, n)
	for i := range accts {
		id := ovm.NewID("acc", now)
		awsID := fmt.Sprintf("%012d", 100000000000+i)
		a := ovm.NewPendingAccount(id, "default", "n-"+id, id+"@bench.invalid", now)
		a.State, a.AWSAccountID, a.RoleARN = ovm.AccountReady, awsID, ovm.RoleARN(awsID, ovm.DefaultRoleName)
		accts[i] = a
	}
	if err := s.AccountImport(context.Background(), accts, "bench"); err != nil {
		b.Fatal(err)
	}
}

// figures are one measurement's latency percentiles and throughput.
type figures struct {
	p50, p99 time.Duration
	perSec   float64
}

// measure runs total calls of fn across clients goroutines and reports the
// latency percentiles and the throughput.
func measure(b *testing.B, clients, total int, fn func() error) {
	f := run(b, clients, total, fn)
	b.ReportMetric(float64(f.p50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(f.p99.Microseconds()), "p99-µs")
	b.ReportMetric(f.perSec, "vends/s")
	b.ReportMetric(0, "ns/op")
}

// run runs total calls of fn across clients goroutines.
func run(b *testing.B, clients, total int, fn func() error) figures {
	lat := make([]time.Duration, total)
	var wg sync.WaitGroup
	next := make(chan int, total)
	for i := range total {
		next <- i
	}
	close(next)
	errs := make(chan error, clients)
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := time.Now()
				if err := fn(); err != nil {
					errs <- err
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	return figures{p50: lat[total/2], p99: lat[total*99/100], perSec: float64(total) / elapsed.Seconds()}
}

var dynamoVends = flag.Int("dynamo-vends", 300, "vends per measurement on DynamoDB (moto)")

// BenchmarkVendStores is the vend latency through one replica (GET /vend
// over loopback HTTP) on SQLite and on DynamoDB (moto), at 1 and 16
// clients, in the same run. moto serves one request at a time and scans a
// table for each index query, so its figures are an upper bound of the
// store's own cost, not a figure for AWS.
func BenchmarkVendStores(b *testing.B) {
	stores := []struct {
		name  string
		open  func(*testing.B, int) importer
		vends int
	}{{"sqlite", seeded, *dynamoVends}, {"dynamodb-moto", seededDynamo, *dynamoVends}}
	for _, st := range stores {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/clients=%d", st.name, clients), func(b *testing.B) {
				for range b.N {
					s := st.open(b, st.vends)
					url, key := serve(b, s)
					measure(b, clients, st.vends, httpVend(url, key, clients))
				}
			})
		}
	}
}

// httpVend is one GET /vend.
func httpVend(url, key string, clients int) func() error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	return func() error {
		req, _ := http.NewRequest("GET", url+"/vend", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("vend: %d", res.StatusCode)
		}
		return nil
	}
}

// BenchmarkVend is the vend latency of the core issue: the bare store
// transaction and GET /vend over loopback HTTP, each from a stock big
// enough that no call finds it empty.
func BenchmarkVend(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("store/clients=%d", clients), func(b *testing.B) {
			for range b.N {
				s := seeded(b, *vends)
				measure(b, clients, *vends, func() error {
					now := time.Now().UTC()
					_, err := s.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now),
						Pool: "default", Owner: "bench", Now: now, ExpiresAt: now.Add(time.Hour)})
					return err
				})
			}
		})
		b.Run(fmt.Sprintf("http/clients=%d", clients), func(b *testing.B) {
			for range b.N {
				s := seeded(b, *vends)
				url, key := serve(b, s)
				measure(b, clients, *vends, httpVend(url, key, clients))
			}
		})
	}
}

// serve runs the real API (engine not started: the stock is pre-seeded)
// on loopback and returns its URL and an admin key.
func serve(b *testing.B, s ovm.Store) (string, string) { return serveWith(b, s, nil) }

// serveWith is serve with met observing the API and the engine, when set.
func serveWith(b *testing.B, s ovm.Store, met *metrics.Metrics) (string, string) {
	clock := ovm.SystemClock()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// One key vends the whole pre-seeded stock: no per-pool owner limit.
	pol := ovm.Pool{Name: "default", Provider: "sim", Lease: ovm.LeasePolicy{MaxPerOwner: 1 << 30}}.WithDefaults()
	ecfg, acfg := engine.Config{}, httpapi.Config{}
	if met != nil {
		ecfg.Observer, acfg.Observer = met, met
	}
	eng, err := engine.New(s, []engine.Pool{{Policy: pol, Provider: &sim.Provider{}}}, clock, log, ecfg)
	if err != nil {
		b.Fatal(err)
	}
	if met != nil {
		met.Watch(eng)
	}
	k, secret, _ := ovm.NewAPIKey("bench", ovm.RoleAdmin, clock.Now())
	if err := s.KeyCreate(context.Background(), k); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(s, eng, clock, log, acfg))
	b.Cleanup(srv.Close)
	return srv.URL, secret
}

// BenchmarkVendMetrics compares GET /vend with the metrics on (observers,
// and a Prometheus-like scrape every second) against off, in one run,
// alternating three times; it reports on/off ratios of p99 and throughput
// (issue target: within 5 %).
func BenchmarkVendMetrics(b *testing.B) {
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			for range b.N {
				var off, on figures
				for range 3 {
					off = off.plus(vendRun(b, clients, false))
					on = on.plus(vendRun(b, clients, true))
				}
				b.ReportMetric(float64(off.p99.Microseconds()/3), "off-p99-µs")
				b.ReportMetric(float64(on.p99.Microseconds()/3), "on-p99-µs")
				b.ReportMetric(float64(on.p99)/float64(off.p99), "p99-on/off")
				b.ReportMetric(on.perSec/off.perSec, "vends/s-on/off")
				b.ReportMetric(0, "ns/op")
			}
		})
	}
}

func (f figures) plus(g figures) figures {
	return figures{p50: f.p50 + g.p50, p99: f.p99 + g.p99, perSec: f.perSec + g.perSec}
}

// vendRun measures *vends GET /vend on a fresh store, metrics on or off.
func vendRun(b *testing.B, clients int, withMetrics bool) figures {
	s := seeded(b, *vends)
	var met *metrics.Metrics
	if withMetrics {
		met = metrics.New(slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.Config{Version: "bench"})
	}
	url, key := serveWith(b, s, met)
	stop := make(chan struct{})
	defer close(stop)
	if met != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					met.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil))
				}
			}
		}()
	}
	return run(b, clients, *vends, httpVend(url, key, clients))
}

func TestMain(m *testing.M) {
	code := m.Run()
	mototest.Stop()
	os.Exit(code)
}
