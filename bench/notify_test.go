package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/notify/webhook"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

var (
	notifyVends  = flag.Int("notify-vends", 200, "vends whose lease.created is timed to its receipt")
	outboxDepth  = flag.Int("outbox", 2000, "outbox entries drained per measurement")
	notifySecret = []byte("bench-secret")
)

// timedReceiver notes when each lease's lease.created arrives.
type timedReceiver struct {
	mu  sync.Mutex
	got map[string]time.Time
}

func (r *timedReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	at := time.Now()
	if !webhook.Verify(notifySecret, body, req.Header.Get(webhook.DefaultSignatureHeader)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var n ovm.Notification
	json.Unmarshal(body, &n)
	r.mu.Lock()
	if _, seen := r.got[n.LeaseID]; !seen && n.Type == ovm.NotifyLeaseCreated {
		r.got[n.LeaseID] = at
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func notifyEngine(b *testing.B, s ovm.Store, tick time.Duration, sink ovm.Sink) *engine.Engine {
	b.Helper()
	p, _ := sim.New(sim.Config{}, ovm.SystemClock())
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 0}}.WithDefaults()
	eng, err := engine.New(s, []engine.Pool{{Policy: pol, Provider: p}}, ovm.SystemClock(), slog.New(slog.NewTextHandler(io.Discard, nil)),
		engine.Config{Tick: tick, Notify: engine.NotifyConfig{ExpiringLead: -1, Subscriptions: []*ovm.Subscription{{Name: "bench", Sink: sink}}}})
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

// BenchmarkNotifyLatency is the time from a vend (the store's write of the
// lease and its outbox entry) to the receipt of its signed lease.created
// webhook on loopback, one vend every 10ms, with the engine's tick at its
// default (1s) and at 50ms. The API kicks the notifier after a vend, as the
// runner does after a state change and the expirer after ends; the tick is
// the fallback (e.g. for another replica's writes).
func BenchmarkNotifyLatency(b *testing.B) {
	for _, tick := range []time.Duration{time.Second, 50 * time.Millisecond} {
		b.Run("tick="+tick.String(), func(b *testing.B) {
			for range b.N {
				s := seeded(b, *notifyVends)
				recv := &timedReceiver{got: map[string]time.Time{}}
				srv := httptest.NewServer(recv)
				sink, _ := webhook.New(webhook.Config{URL: srv.URL, Secret: notifySecret})
				eng := notifyEngine(b, s, tick, sink)
				eng.Start()
				sent := map[string]time.Time{}
				for i := range *notifyVends {
					now := time.Now().UTC()
					l, _, err := eng.Vend(context.Background(), &engine.VendRequest{Pool: "default", Owner: fmt.Sprint("o", i)})
					if err != nil {
						b.Fatal(err)
					}
					sent[l.ID] = now
					time.Sleep(10 * time.Millisecond)
				}
				deadline := time.Now().Add(30 * time.Second)
				for {
					recv.mu.Lock()
					n := len(recv.got)
					recv.mu.Unlock()
					if n == len(sent) || time.Now().After(deadline) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				eng.Stop(context.Background())
				srv.Close()
				var lat []time.Duration
				for id, t := range sent {
					if at, ok := recv.got[id]; ok {
						lat = append(lat, at.Sub(t))
					}
				}
				if len(lat) != len(sent) {
					b.Fatalf("%d of %d notifications received", len(lat), len(sent))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
				b.ReportMetric(0, "ns/op")
			}
		})
	}
}

type nopSink struct{}

func (nopSink) Send(context.Context, *ovm.Notification) error { return nil }

// BenchmarkOutboxThroughput drains a full outbox on SQLite through the
// notifier's RunOnce (claim, send, settle: two fsync'd writes per entry),
// to a sink that accepts at once (the outbox's own cost) and to a signed
// webhook on loopback.
func BenchmarkOutboxThroughput(b *testing.B) {
	for _, to := range []string{"nop", "webhook"} {
		b.Run("sink="+to, func(b *testing.B) {
			for range b.N {
				s, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "ovm.db"))
				if err != nil {
					b.Fatal(err)
				}
				now := time.Now().UTC()
				for i := range *outboxDepth {
					n := &ovm.Notification{ID: ovm.NewID("evt", now), Type: ovm.NotifyLeaseCreated, Time: now, LeaseID: fmt.Sprint(i)}
					if err := s.DeliveryAdd(context.Background(), ovm.NewDelivery(n, now)); err != nil {
						b.Fatal(err)
					}
				}
				var sink ovm.Sink = nopSink{}
				var srv *httptest.Server
				if to == "webhook" {
					srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						io.Copy(io.Discard, r.Body)
						w.WriteHeader(http.StatusNoContent)
					}))
					sink, _ = webhook.New(webhook.Config{URL: srv.URL, Secret: notifySecret})
				}
				eng := notifyEngine(b, s, time.Second, sink)
				start := time.Now()
				done := 0
				for done < *outboxDepth {
					n, err := eng.RunOnce(context.Background(), engine.WorkerNotifier)
					if err != nil {
						b.Fatal(err)
					}
					if n == 0 {
						b.Fatalf("the outbox stalled at %d of %d", done, *outboxDepth)
					}
					done += n
				}
				elapsed := time.Since(start)
				if srv != nil {
					srv.Close()
				}
				s.Close()
				b.ReportMetric(float64(done)/elapsed.Seconds(), "deliveries/s")
				b.ReportMetric(0, "ns/op")
			}
		})
	}
}
