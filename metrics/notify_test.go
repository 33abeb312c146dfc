package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
)

type refusingSink struct{}

func (refusingSink) Send(context.Context, *ovm.Notification) error { return errors.New("410 Gone") }

func TestFailedNotificationsAreAGaugeFromTheStoreAndSendsACounter(t *testing.T) {
	w := newWorld(t)
	w.tick(8)
	text := w.scrape()
	if got := value(t, text, "ovm_notification_deliveries_failed"); got != "0" {
		t.Fatalf("failed deliveries before any: %s", got)
	}
	if code := w.get("/vend"); code != 200 {
		t.Fatalf("vend: %d", code)
	}
	if got := value(t, w.scrape(), "ovm_notification_deliveries_pending"); got != "1" {
		t.Fatalf("pending deliveries after a vend: %s", got)
	}
	// A notifier whose one subscription refuses everything, with no retry.
	pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 3}}.WithDefaults()
	eng, err := engine.New(w.store, []engine.Pool{{Policy: pol, Provider: w.sim}}, w.clock, slog.New(slog.NewTextHandler(io.Discard, nil)),
		engine.Config{Observer: w.met, Notify: engine.NotifyConfig{ExpiringLead: -1, Retry: ovm.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Second, MaxDelay: time.Second},
			Subscriptions: []*ovm.Subscription{{Name: "ops", Sink: refusingSink{}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.RunOnce(context.Background(), engine.WorkerNotifier); err != nil {
		t.Fatal(err)
	}
	text = w.scrape()
	for series, want := range map[string]string{
		"ovm_notification_deliveries_failed":                                           "1",
		"ovm_notification_deliveries_pending":                                          "0",
		`ovm_notification_delivery_attempts_total{result="failed",subscription="ops"}`: "1",
	} {
		if got := value(t, text, series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}
}
