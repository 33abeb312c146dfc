package engine_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider/sim"
)

// inbox is a sink that records what it accepts and refuses while failing
// is set.
type inbox struct {
	mu      sync.Mutex
	got     []*ovm.Notification
	tries   int
	failing bool
}

func (b *inbox) Send(_ context.Context, n *ovm.Notification) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tries++
	if b.failing {
		return errors.New("503 Service Unavailable")
	}
	b.got = append(b.got, n)
	return nil
}

func (b *inbox) received(typ ovm.NotificationType) []*ovm.Notification {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*ovm.Notification
	for _, n := range b.got {
		if n.Type == typ {
			out = append(out, n)
		}
	}
	return out
}

// notifyWorld is a world whose engine sends every notification to box.
func notifyWorld(t *testing.T, box *inbox, mods ...func(*ovm.Pool)) *world {
	w := newWorld(t, sim.Config{}, poolPolicy(append([]func(*ovm.Pool){func(p *ovm.Pool) { p.Stock.Target = 2 }}, mods...)...))
	w.cfg.Notify.Subscriptions = []*ovm.Subscription{{Name: "ops", Sink: box}}
	w.cfg.Notify.Retry = ovm.RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Second, MaxDelay: time.Minute}
	w.cfg.Notify.ExpiringLead = -1 // the vended leases last a minute
	w.build()
	return w
}

func (w *world) notify() int {
	w.t.Helper()
	n, err := w.eng.RunOnce(context.Background(), engine.WorkerNotifier)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *world) delivery(id string) *ovm.Delivery {
	w.t.Helper()
	d, err := w.store.DeliveryGet(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

func TestAVendIsNotifiedOnceAndSettled(t *testing.T) {
	box := &inbox{}
	w := notifyWorld(t, box)
	w.settle(10, time.Second)
	l := w.vend("alice")
	w.notify()
	got := box.received(ovm.NotifyLeaseCreated)
	if len(got) != 1 || got[0].LeaseID != l.ID || got[0].Owner != "alice" || got[0].AWSAccountID != l.AWSAccountID {
		t.Fatalf("lease.created received %+v", got)
	}
	if d := w.delivery(got[0].ID); d.State != ovm.DeliveryDelivered || d.Targets[0].State != ovm.DeliveryDelivered {
		t.Fatalf("delivery %+v", d)
	}
	w.clock.Advance(time.Hour)
	w.notify()
	if n := len(box.received(ovm.NotifyLeaseCreated)); n != 1 {
		t.Fatalf("lease.created received %d times", n)
	}
}

func TestAFailingReceiverIsRetriedWithBackoffThenFailedThenSentAgain(t *testing.T) {
	box := &inbox{failing: true}
	w := notifyWorld(t, box)
	w.settle(10, time.Second)
	w.vend("alice")
	ctx := context.Background()
	ds, _, _ := w.store.DeliveryList(ctx, &ovm.DeliveryListParams{})
	if len(ds) != 1 {
		t.Fatalf("%d outbox entries", len(ds))
	}
	id := ds[0].ID
	w.notify()
	d := w.delivery(id)
	if d.State != ovm.DeliveryPending || d.Attempts != 1 || d.Targets[0].LastError != "503 Service Unavailable" {
		t.Fatalf("after one failure %+v", d)
	}
	wait := d.NextAttemptAt.Sub(w.clock.Now())
	if wait < 8*time.Second || wait > 10*time.Second {
		t.Fatalf("first backoff %s, want 8-10s", wait)
	}
	w.notify() // not due yet
	if box.tries != 1 {
		t.Fatalf("%d tries before the backoff passed", box.tries)
	}
	w.clock.Set(d.NextAttemptAt)
	w.notify()
	d = w.delivery(id)
	if wait2 := d.NextAttemptAt.Sub(w.clock.Now()); box.tries != 2 || wait2 < 16*time.Second || wait2 > 20*time.Second {
		t.Fatalf("second try: %d tries, backoff %s, want 16-20s", box.tries, wait2)
	}
	w.clock.Set(d.NextAttemptAt)
	w.notify()
	d = w.delivery(id)
	if d.State != ovm.DeliveryFailed || d.Targets[0].State != ovm.DeliveryFailed || d.Targets[0].Attempts != 3 {
		t.Fatalf("after MaxAttempts %+v", d)
	}
	failed, _, _ := w.store.DeliveryList(ctx, &ovm.DeliveryListParams{State: ovm.DeliveryFailed})
	if len(failed) != 1 || failed[0].ID != id {
		t.Fatalf("failed deliveries %+v", failed)
	}
	w.clock.Advance(time.Hour)
	w.notify()
	if box.tries != 3 {
		t.Fatalf("a failed delivery was tried again by itself: %d tries", box.tries)
	}

	box.mu.Lock()
	box.failing = false
	box.mu.Unlock()
	if _, err := w.eng.RetryDelivery(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := w.eng.RetryDelivery(ctx, id); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("retrying a pending delivery: %v", err)
	}
	w.notify()
	if d := w.delivery(id); d.State != ovm.DeliveryDelivered || len(box.received(ovm.NotifyLeaseCreated)) != 1 {
		t.Fatalf("after the retry %+v", d)
	}
}

// TestACrashAfterSendingDeliversAgain kills the sending goroutine after the
// receiver accepted and before the delivery was recorded, then restarts
// engine and store: the notification arrives again, with the same id.
func TestACrashAfterSendingDeliversAgain(t *testing.T) {
	box := &inbox{}
	w := notifyWorld(t, box)
	w.settle(10, time.Second)
	crashed := 0
	w.cfg.CrashPoint = func(point string) {
		if point == "notify.after-send" && crashed == 0 {
			crashed++
			runtime.Goexit() // as under kill -9
		}
	}
	w.build()
	w.vend("alice")
	w.eng.RunOnce(context.Background(), engine.WorkerNotifier)
	if crashed != 1 || len(box.received(ovm.NotifyLeaseCreated)) != 1 {
		t.Fatalf("crashed %d, received %d", crashed, len(box.received(ovm.NotifyLeaseCreated)))
	}
	w.store.Close()
	w.cfg.CrashPoint = nil
	w.open()
	w.notify()
	got := box.received(ovm.NotifyLeaseCreated)
	if len(got) != 2 || got[0].ID != got[1].ID {
		t.Fatalf("after the restart: %+v, want the same notification again", got)
	}
	if d := w.delivery(got[0].ID); d.State != ovm.DeliveryDelivered {
		t.Fatalf("delivery %+v", d)
	}
}

func TestExpiryStockAndLeaseEndsAreNotified(t *testing.T) {
	box := &inbox{}
	w := notifyWorld(t, box)
	w.cfg.Notify.ExpiringLead = 50 * time.Second // the leases last a minute
	w.cfg.Notify.LowStock = map[string]int{"default": 2}
	w.build()
	w.settle(10, time.Second)
	w.notify() // the new leader's first look records the stock level
	l := w.vend("alice")
	w.clock.Advance(20 * time.Second)
	w.notify()
	low := box.received(ovm.NotifyPoolLow)
	if len(low) != 1 || *low[0].Ready != 1 || low[0].Target != 2 || low[0].Pool != "default" {
		t.Fatalf("pool.low %+v", low)
	}
	b := w.vend("bob")
	w.clock.Advance(20 * time.Second)
	w.notify()
	if empty := box.received(ovm.NotifyPoolEmpty); len(empty) != 1 || *empty[0].Ready != 0 {
		t.Fatalf("pool.empty %+v", empty)
	}
	w.clock.Advance(15 * time.Second)
	w.notify() // both leases are in the lead window now, and were before
	exp := box.received(ovm.NotifyLeaseExpiring)
	if len(exp) != 2 || exp[0].ExpiresAt == nil || (exp[0].LeaseID != l.ID && exp[1].LeaseID != l.ID) {
		t.Fatalf("lease.expiring %+v, want both leases once", exp)
	}
	w.clock.Set(b.ExpiresAt)
	w.settle(1, time.Second)
	w.notify()
	ended := box.received(ovm.NotifyLeaseEnded)
	if len(ended) != 2 || ended[0].Reason != string(ovm.LeaseExpired) {
		t.Fatalf("lease.ended %+v", ended)
	}
}

func TestDeliveredNotificationsArePrunedAfterTheRetention(t *testing.T) {
	box := &inbox{}
	w := notifyWorld(t, box)
	w.cfg.Notify.Retention = 24 * time.Hour
	w.build()
	w.settle(10, time.Second)
	w.vend("alice")
	w.notify() // delivered
	box.mu.Lock()
	box.failing = true
	box.mu.Unlock()
	w.vend("bob")
	w.notify() // refused: retried later
	box.mu.Lock()
	box.failing = false
	box.mu.Unlock()
	kept := func() map[ovm.NotificationType]int {
		ds, _, err := w.store.DeliveryList(context.Background(), &ovm.DeliveryListParams{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[ovm.NotificationType]int{}
		for _, d := range ds {
			out[d.Event.Type]++
		}
		return out
	}
	w.clock.Advance(23 * time.Hour)
	w.notify() // bob's delivered now; the pool's emptiness is seen
	if k := kept(); k[ovm.NotifyLeaseCreated] != 2 || k[ovm.NotifyPoolEmpty] != 1 {
		t.Fatalf("before the retention: %v", k)
	}
	w.clock.Advance(2 * time.Hour)
	w.notify()
	if k := kept(); k[ovm.NotifyLeaseCreated] != 0 || k[ovm.NotifyPoolEmpty] != 1 {
		t.Fatalf("after the retention: %v, want the vends' notifications pruned and the newer one kept", k)
	}
}

// A fall of the stock that one leader saw (or would have seen) but did not
// report, because it died, is reported by the next leader: the level is
// kept as the pool's stock events, not in a leader's memory. A leader that
// died between writing the alert and its event leaves one alert, not two.
func TestAStockAlertALeaderDidNotReportIsReportedByTheNext(t *testing.T) {
	for _, crash := range []bool{false, true} {
		box := &inbox{}
		w := notifyWorld(t, box)
		w.cfg.Notify.LowStock = map[string]int{"default": 2}
		w.build()
		w.settle(10, time.Second)
		w.notify() // stock full: level ok
		w.vend("alice")
		w.vend("bob") // empty; this leader dies before its next scan
		if crash {
			// It dies after writing the alert, before recording the level.
			w.cfg.CrashPoint = func(p string) {
				if p == "notify.after-stock-alert" {
					panic("killed")
				}
			}
			w.build()
			w.clock.Advance(20 * time.Second)
			func() {
				defer func() { recover() }()
				w.eng.RunOnce(context.Background(), engine.WorkerNotifier)
			}()
			w.cfg.CrashPoint = nil
		}
		w.clock.Advance(20 * time.Second)
		w.build() // the next leader, with nothing in memory
		w.notify()
		w.clock.Advance(20 * time.Second)
		w.notify()
		if empty := box.received(ovm.NotifyPoolEmpty); len(empty) != 1 || *empty[0].Ready != 0 {
			t.Fatalf("crash between alert and record %v: pool.empty %+v, want one", crash, empty)
		}
		ev, _, _ := w.store.EventList(context.Background(), &ovm.EventListParams{Pool: "default", Kind: ovm.EventStock, Newest: true})
		if len(ev) != 1 || ev[0].From != "ok" || ev[0].To != string(ovm.NotifyPoolEmpty) {
			t.Fatalf("crash %v: stock events %+v", crash, ev)
		}
	}
}
