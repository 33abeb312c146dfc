package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/metrics"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// world is the API and the engine on SQLite and the simulated AWS, with
// the metrics observing both.
type world struct {
	t     *testing.T
	clock *clocktest.Clock
	store *sqlitestore.Store
	sim   *sim.Provider
	eng   *engine.Engine
	met   *metrics.Metrics
	api   *httptest.Server
	key   string
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, clock: clocktest.New(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))}
	ctx := context.Background()
	var err error
	if w.store, err = sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "ovm.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	w.sim, _ = sim.New(sim.Config{CloseQuota: 10, CloseWindow: 720 * time.Hour}, w.clock)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.met = metrics.New(log, metrics.Config{Version: "v-test"})
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 3},
		Retry: ovm.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Second, MaxDelay: time.Second}}.WithDefaults()
	if w.eng, err = engine.New(w.store, []engine.Pool{{Policy: pol, Provider: w.sim}}, w.clock, log, engine.Config{Observer: w.met}); err != nil {
		t.Fatal(err)
	}
	w.met.Watch(w.eng)
	w.api = httptest.NewServer(httpapi.New(w.store, w.eng, w.clock, log, httpapi.Config{Observer: w.met}))
	t.Cleanup(w.api.Close)
	k, secret, _ := ovm.NewAPIKey("admin", ovm.RoleAdmin, w.clock.Now())
	if err := w.store.KeyCreate(ctx, k); err != nil {
		t.Fatal(err)
	}
	w.key = secret
	return w
}

func (w *world) tick(n int) {
	for range n {
		if err := w.eng.Tick(context.Background()); err != nil {
			w.t.Fatal(err)
		}
		w.clock.Advance(time.Second)
	}
}

func (w *world) get(path string) int {
	req, _ := http.NewRequest("GET", w.api.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+w.key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// scrape returns the metrics as Prometheus would read them.
func (w *world) scrape() string {
	rec := httptest.NewRecorder()
	w.met.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		w.t.Fatalf("scrape: %d", rec.Code)
	}
	return rec.Body.String()
}

// value returns the sample of the line that starts with series, or fails.
func value(t *testing.T, text, series string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s in:\n%s", series, grepOVM(text))
	}
	return m[1]
}

func grepOVM(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "ovm_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestThePoolFiguresComeFromTheStoreAndTheProcessFiguresFromWhatHappened(t *testing.T) {
	w := newWorld(t)
	w.tick(8)
	text := w.scrape()
	for series, want := range map[string]string{
		`ovm_stock_ready{pool="default"}`:                                      "3",
		`ovm_stock_target{pool="default"}`:                                     "3",
		`ovm_accounts{pool="default",state="ready"}`:                           "3",
		`ovm_accounts_quarantined{pool="default"}`:                             "0",
		`ovm_close_quota_remaining{pool="default"}`:                            "10",
		`ovm_leader{lease="planner"}`:                                          "1",
		`ovm_build_info{goversion="` + goVersion(text) + `",version="v-test"}`: "1",
		`ovm_account_ready_duration_seconds_count{how="made",pool="default"}`:  "3",
	} {
		if got := value(t, text, series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}
	if n := value(t, text, `ovm_provider_step_duration_seconds_count{outcome="done",pool="default",step="bootstrap"}`); n != "3" {
		t.Errorf("bootstrap steps done: %s", n)
	}

	// Vends: three served, then an empty pool, each counted by result;
	// the lease shows in the store's figures.
	for range 3 {
		if code := w.get("/vend"); code != 200 {
			t.Fatalf("vend: %d", code)
		}
	}
	if code := w.get("/vend"); code != 503 {
		t.Fatalf("vend of an empty pool: %d", code)
	}
	text = w.scrape()
	for series, want := range map[string]string{
		`ovm_vends_total{pool="default",result="ok"}`:                                    "3",
		`ovm_vends_total{pool="default",result="empty"}`:                                 "1",
		`ovm_leases_active{pool="default"}`:                                              "3",
		`ovm_stock_ready{pool="default"}`:                                                "0",
		`ovm_vend_duration_seconds_count{pool="default",result="ok"}`:                    "3",
		`ovm_http_request_duration_seconds_count{code="200",method="GET",route="/vend"}`: "3",
		`ovm_http_request_duration_seconds_count{code="503",method="GET",route="/vend"}`: "1",
		`ovm_planner_held_back{limit="max_in_flight",pool="default"}`:                    "0",
	} {
		if got := value(t, text, series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}
	// An unknown path is not a label.
	w.get("/no/such/route/" + strings.Repeat("x", 20))
	if text := w.scrape(); strings.Contains(text, "xxxxxxxx") || !strings.Contains(text, `route=""`) {
		t.Errorf("an unknown path became a label:\n%s", grepOVM(text))
	}

	// A failure the retry policy does not forgive quarantines an account.
	w.sim.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op == sim.OpCreate {
			return &sim.Definitive{Reason: "refused", AccountMayExist: true}
		}
		return nil
	})
	w.tick(3)
	text = w.scrape()
	if q := value(t, text, `ovm_accounts_quarantined{pool="default"}`); q == "0" {
		t.Errorf("no quarantined account counted:\n%s", grepOVM(text))
	}
	if n := value(t, text, `ovm_provider_step_duration_seconds_count{outcome="failed",pool="default",step="create"}`); n == "0" {
		t.Errorf("failed creates: %s", n)
	}
}

func goVersion(text string) string {
	m := regexp.MustCompile(`ovm_build_info\{goversion="([^"]+)"`).FindStringSubmatch(text)
	if m == nil {
		return "?"
	}
	return m[1]
}

func TestTheMetricsAreNamedThePrometheusWay(t *testing.T) {
	w := newWorld(t)
	w.tick(8)
	w.get("/vend")
	problems, err := promlint.New(strings.NewReader(w.scrape())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "ovm_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	for _, l := range strings.Split(w.scrape(), "\n") {
		if strings.HasPrefix(l, "# TYPE ovm_") && strings.HasSuffix(l, " counter") && !strings.Contains(l, "_total ") {
			t.Errorf("a counter without _total: %s", l)
		}
	}
}
