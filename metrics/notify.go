package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// deliveryCollector reads the outbox's failed and pending counts from the
// store at every scrape.
type deliveryCollector struct {
	eng     *engine.Engine
	log     *slog.Logger
	timeout time.Duration
}

var (
	descDeliveriesFailed = prometheus.NewDesc("ovm_notification_deliveries_failed",
		"Notifications a subscription refused until the retries ran out, kept until sent again (from the store).", nil, nil)
	descDeliveriesPending = prometheus.NewDesc("ovm_notification_deliveries_pending",
		"Notifications waiting to be sent or retried (from the store).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDeliveriesFailed
	ch <- descDeliveriesPending
}

// Collect implements prometheus.Collector. A count that cannot be read is
// left out of the scrape (and logged).
func (c *deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	for state, d := range map[ovm.DeliveryState]*prometheus.Desc{ovm.DeliveryFailed: descDeliveriesFailed, ovm.DeliveryPending: descDeliveriesPending} {
		n, err := c.eng.DeliveryCount(ctx, state)
		if err != nil {
			c.log.Warn("metrics: cannot count the outbox", ovm.LogState, string(state), ovm.LogError, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(n))
	}
}

// Delivery implements engine.DeliveryObserver.
func (m *Metrics) Delivery(subscription, result string) {
	m.deliveries.WithLabelValues(subscription, result).Inc()
}
