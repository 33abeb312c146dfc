package metrics

import (
	"sync"

	"github.com/ovmdev/ovm"
	"github.com/prometheus/client_golang/prometheus"
)

// budgetMetrics are the budgets' instruments (docs/budgets.md): the acts
// counted where they happen (sum over replicas), the gauges set by the
// replica that holds the spend lease (max over replicas).
type budgetMetrics struct {
	acts   *prometheus.CounterVec
	frozen *prometheus.GaugeVec
	near   *prometheus.GaugeVec

	mu   sync.Mutex
	pool map[string]bool // pools whose gauges were set
}

func (m *Metrics) budget() *budgetMetrics {
	m.budgetOnce.Do(func() {
		b := &budgetMetrics{pool: map[string]bool{}}
		b.acts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ovm_budget_actions_total",
			Help: "Budget thresholds acted on, by action (notify, freeze, end) and the lease's template."}, []string{"action", "template"})
		b.frozen = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ovm_leases_frozen",
			Help: "Frozen leases, by pool."}, []string{"pool"})
		b.near = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ovm_budget_near_leases",
			Help: "Active leases whose projected spend is at 80% of their budget or more, by pool."}, []string{"pool"})
		m.reg.MustRegister(b.acts, b.frozen, b.near)
		m.budgetM = b
	})
	return m.budgetM
}

// BudgetAct implements engine.BudgetObserver. Templates and actions come
// from the configuration, never from a client.
func (m *Metrics) BudgetAct(action ovm.BudgetAction, template string) {
	m.budget().acts.WithLabelValues(string(action), template).Inc()
}

// Budgets implements engine.BudgetObserver: pools with none are set to 0.
func (m *Metrics) Budgets(frozen, near map[string]int) {
	b := m.budget()
	b.mu.Lock()
	defer b.mu.Unlock()
	for p := range frozen {
		b.pool[p] = true
	}
	for p := range near {
		b.pool[p] = true
	}
	for p := range b.pool {
		b.frozen.WithLabelValues(p).Set(float64(frozen[p]))
		b.near.WithLabelValues(p).Set(float64(near[p]))
	}
}
