package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// spendMetrics are the spend worker's instruments (docs/spend.md). They
// are set by the replica that holds the spend lease: aggregate the gauges
// with max over replicas, sum the counters.
type spendMetrics struct {
	events   *prometheus.CounterVec
	lag      prometheus.Histogram
	usd      *prometheus.GaugeVec
	unpriced *prometheus.GaugeVec
	estErr   prometheus.Gauge

	mu   sync.Mutex
	seen map[[2]string]bool // pool and template series set once
}

// spendResults are the values of the events counter's result label.
var spendResults = []string{"counted", "duplicate", "own", "unmatched", "stale", "unreadable", "error"}

func (m *Metrics) spend() *spendMetrics {
	m.spendOnce.Do(func() {
		s := &spendMetrics{seen: map[[2]string]bool{}}
		s.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovm_spend_events_total",
			Help: "Spend events taken in, by result: counted, duplicate (a redelivery), own (OVM's own call), unmatched (no lease), stale (before the account's lease), unreadable, error (the queue failed)."},
			[]string{"result"})
		s.lag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ovm_spend_event_lag_seconds",
			Help:    "From an event's time at AWS to its count in the ledger.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600}})
		s.usd = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ovm_spend_usd",
			Help: "Spend so far of the active leases, by pool and template (USD)."}, []string{"pool", "template"})
		s.unpriced = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ovm_spend_unpriced_resources",
			Help: "Resources running in active leases that the price table cannot price, by pool."}, []string{"pool"})
		s.estErr = prometheus.NewGauge(prometheus.GaugeOpts{Name: "ovm_spend_estimate_error_usd",
			Help: "Estimate minus bill over the days AWS has billed, summed over active leases (USD)."})
		for _, r := range spendResults {
			s.events.WithLabelValues(r)
		}
		m.reg.MustRegister(s.events, s.lag, s.usd, s.unpriced, s.estErr)
		m.spendM = s
	})
	return m.spendM
}

// Event implements engine.SpendObserver.
func (m *Metrics) Event(result string, lag time.Duration) {
	s := m.spend()
	known := false
	for _, r := range spendResults {
		known = known || r == result
	}
	if !known {
		result = "error"
	}
	s.events.WithLabelValues(result).Inc()
	if result == "counted" {
		s.lag.Observe(max(lag, 0).Seconds())
	}
}

// Ledgers implements engine.SpendObserver. Pools and templates come from
// the configuration, never from a client.
func (m *Metrics) Ledgers(spend map[[2]string]float64, unpriced map[string]int, estimateError float64) {
	s := m.spend()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.seen {
		if _, ok := spend[k]; !ok {
			s.usd.WithLabelValues(k[0], k[1]).Set(0)
		}
	}
	for k, v := range spend {
		s.seen[k] = true
		s.usd.WithLabelValues(k[0], k[1]).Set(v)
	}
	for pool, n := range unpriced {
		s.unpriced.WithLabelValues(pool).Set(float64(n))
	}
	s.estErr.Set(estimateError)
}
