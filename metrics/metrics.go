// Package metrics exports OVM's metrics in the Prometheus format, through
// github.com/prometheus/client_golang.
//
// Two sources, and they differ with several replicas:
//   - pool figures (accounts by state, ready stock and its target, active
//     leases, quarantined accounts, close quota left, whether the planner
//     holds back and why) are read from the store at every scrape, so every
//     replica reports the same numbers: aggregate them with max, not sum
//     (so are the outbox's failed and pending notifications);
//   - process figures (vends, vend latency, provider steps, time from order
//     to ready, cleaning failures, HTTP requests, notification sends,
//     whether this replica holds the planner lease) count what this
//     replica did: sum them over
//     replicas.
//
// No label carries an owner, an account or a lease id, and none a value a
// client chose: labels are pools, states, steps, outcomes, route patterns
// (never a path), the standard methods (any other is "other") and codes.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds OVM's instruments. It implements engine.Observer and
// httpapi.Observer; Handler serves them.
type Metrics struct {
	reg *prometheus.Registry

	vends         *prometheus.CounterVec
	vendDuration  *prometheus.HistogramVec
	steps         *prometheus.HistogramVec
	cleanFailures *prometheus.CounterVec
	buildDuration *prometheus.HistogramVec
	requests      *prometheus.HistogramVec
	leader        *prometheus.GaugeVec
	deliveries    *prometheus.CounterVec

	spendOnce sync.Once
	spendM    *spendMetrics

	budgetOnce sync.Once
	budgetM    *budgetMetrics

	log *slog.Logger
	cfg Config
}

// Config says what the metrics describe.
type Config struct {
	// Version is the binary's version (ovm_build_info).
	Version string
	// ScrapeTimeout bounds the store reads of one scrape (default 5s).
	ScrapeTimeout time.Duration
}

// New registers OVM's instruments and the Go runtime's and process's
// collectors; Watch adds the pool figures of an engine.
func New(log *slog.Logger, cfg Config) *Metrics {
	if cfg.ScrapeTimeout == 0 {
		cfg.ScrapeTimeout = 5 * time.Second
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: log, cfg: cfg}
	m.vends = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovm_vends_total",
		Help: "Vends (GET /vend and POST /v1/leases) by pool and result: ok, empty, limit, invalid, error, replayed."}, []string{"pool", "result"})
	m.vendDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ovm_vend_duration_seconds",
		Help:    "How long a vend took, waiting for stock included, by pool and result.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"pool", "result"})
	m.steps = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ovm_provider_step_duration_seconds",
		Help:    "Provider steps by pool, step (create, bootstrap, clean, close) and outcome (pending, done, failed, error).",
		Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 120, 300, 600, 1800}}, []string{"pool", "step", "outcome"})
	m.cleanFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovm_cleaning_failures_total",
		Help: "Cleaning passes (recycle pools) that failed, by pool."}, []string{"pool"})
	m.buildDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ovm_account_ready_duration_seconds",
		Help:    "Time to stock by pool and how (made: from order to ready; recycled: from the start of cleaning to ready).",
		Buckets: []float64{1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200}}, []string{"pool", "how"})
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ovm_http_request_duration_seconds",
		Help:    "HTTP requests by route pattern (\"\" when none matched), method (\"other\" for a non-standard one) and status code.",
		Buckets: prometheus.DefBuckets}, []string{"route", "method", "code"})
	m.leader = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ovm_leader",
		Help: "1 when this replica holds the named leader lease (planner, drift); sum over replicas is 1 while one plans."}, []string{"lease"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovm_notification_delivery_attempts_total",
		Help: "Sends of a notification to a subscription by result: delivered, retry (refused, tried again later), failed (refused for good)."},
		[]string{"subscription", "result"})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ovm_build_info",
		Help: "Always 1; the labels name the build."}, []string{"version", "goversion"})
	info.WithLabelValues(cfg.Version, runtime.Version()).Set(1)
	m.reg.MustRegister(m.vends, m.vendDuration, m.steps, m.cleanFailures, m.buildDuration, m.requests, m.leader, m.deliveries, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, name := range []string{"planner", "drift", "notify"} {
		m.leader.WithLabelValues(name).Set(0)
	}
	m.spend()
	m.budget()
	return m
}

// Watch adds the pool figures of eng's pools, read from its store at every
// scrape. Call it once.
func (m *Metrics) Watch(eng *engine.Engine) {
	for _, p := range eng.Pools() { // every pool's series exists from the start, at 0
		m.spend().unpriced.WithLabelValues(p.Policy.Name).Set(0)
		m.Budgets(map[string]int{p.Policy.Name: 0}, nil)
	}
	m.reg.MustRegister(&poolCollector{eng: eng, log: m.log, timeout: m.cfg.ScrapeTimeout},
		&deliveryCollector{eng: eng, log: m.log, timeout: m.cfg.ScrapeTimeout})
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Step implements engine.Observer.
func (m *Metrics) Step(pool, step, outcome string, d time.Duration) {
	m.steps.WithLabelValues(pool, step, outcome).Observe(d.Seconds())
	if step == "clean" && (outcome == "error" || outcome == string(ovm.StepFailed)) {
		m.cleanFailures.WithLabelValues(pool).Inc()
	}
}

// Ready implements engine.Observer.
func (m *Metrics) Ready(pool string, recycled bool, d time.Duration) {
	how := "made"
	if recycled {
		how = "recycled"
	}
	m.buildDuration.WithLabelValues(pool, how).Observe(d.Seconds())
}

// Leader implements engine.Observer.
func (m *Metrics) Leader(name string, held bool) {
	v := 0.0
	if held {
		v = 1
	}
	m.leader.WithLabelValues(name).Set(v)
}

// Request implements httpapi.Observer. route is a pattern of the API's
// route table or ""; a method that is not one of the standard ones
// (methodLabel) is labelled "other", so that a client cannot add series.
func (m *Metrics) Request(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, methodLabel(method), strconv.Itoa(code)).Observe(d.Seconds())
}

// methodLabel is method as a label: one of HTTP's standard methods
// (RFC 9110 and PATCH) as it is, any other "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// Vend implements httpapi.Observer.
func (m *Metrics) Vend(pool, result string, d time.Duration) {
	m.vends.WithLabelValues(pool, result).Inc()
	m.vendDuration.WithLabelValues(pool, result).Observe(d.Seconds())
}

// poolCollector reads the pool figures from the store at every scrape.
type poolCollector struct {
	eng     *engine.Engine
	log     *slog.Logger
	timeout time.Duration
}

var (
	descAccounts = prometheus.NewDesc("ovm_accounts",
		"Live accounts by pool and state (from the store; terminal states are not counted).", []string{"pool", "state"}, nil)
	descReady = prometheus.NewDesc("ovm_stock_ready",
		"Ready accounts of the pool (from the store).", []string{"pool"}, nil)
	descTarget = prometheus.NewDesc("ovm_stock_target",
		"The pool's target of ready accounts.", []string{"pool"}, nil)
	descInFlight = prometheus.NewDesc("ovm_stock_in_flight",
		"Accounts on the way to stock (pending, creating, bootstrapping).", []string{"pool"}, nil)
	descLeases = prometheus.NewDesc("ovm_leases_active",
		"Active leases of the pool (from the store).", []string{"pool"}, nil)
	descQuarantined = prometheus.NewDesc("ovm_accounts_quarantined",
		"Accounts automation gave up on, waiting for an operator (from the store).", []string{"pool"}, nil)
	descQuota = prometheus.NewDesc("ovm_close_quota_remaining",
		"Closures the close quota still allows in its window (pools whose provider reports one).", []string{"pool"}, nil)
	descQuotaLimit = prometheus.NewDesc("ovm_close_quota_limit",
		"The close quota per window (pools whose provider reports one).", []string{"pool"}, nil)
	descHeldBack = prometheus.NewDesc("ovm_planner_held_back",
		"1 when the planner orders fewer accounts than the stock lacks, labelled with the bound that holds it "+
			"(max_in_flight, ceiling, min_spacing, close_quota, breaker).", []string{"pool", "limit"}, nil)
	descScrapeErrors = prometheus.NewDesc("ovm_pool_scrape_errors",
		"1 when the pool's figures could not be read from the store at this scrape.", []string{"pool"}, nil)
)

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAccounts, descReady, descTarget, descInFlight, descLeases, descQuarantined,
		descQuota, descQuotaLimit, descHeldBack, descScrapeErrors} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, p := range c.eng.Pools() {
		name := p.Policy.Name
		st, err := c.eng.StockStatus(ctx, name)
		if err != nil {
			c.log.Warn("metrics: cannot read the pool's figures", ovm.LogPool, name, ovm.LogError, err)
			gauge(descScrapeErrors, 1, name)
			continue
		}
		gauge(descScrapeErrors, 0, name)
		for _, s := range ovm.AccountStates {
			if !s.Terminal() {
				gauge(descAccounts, float64(st.Counts.ByState[s]), name, string(s))
			}
		}
		gauge(descReady, float64(st.Counts.ByState[ovm.AccountReady]), name)
		gauge(descTarget, float64(st.Policy.Stock.Target), name)
		gauge(descInFlight, float64(st.Counts.InFlight()), name)
		gauge(descLeases, float64(st.Counts.ByState[ovm.AccountLeased]), name)
		gauge(descQuarantined, float64(st.Counts.ByState[ovm.AccountQuarantined]), name)
		if q := st.Quota; q != nil && q.Limited() {
			gauge(descQuota, float64(q.Left()), name)
			gauge(descQuotaLimit, float64(q.Limit), name)
		}
		for _, l := range []engine.Limit{engine.LimitMaxInFlight, engine.LimitCeiling, engine.LimitMinSpacing,
			engine.LimitCloseQuota, engine.LimitBreaker} {
			v := 0.0
			if st.Plan.Limit == l {
				v = 1
			}
			gauge(descHeldBack, v, name, string(l))
		}
	}
}
