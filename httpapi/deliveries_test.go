package httpapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/httpapi"
)

// failedDelivery puts a notification in the outbox whose one subscription
// refused it for good.
func (f *fixture) failedDelivery() *ovm.Delivery {
	f.t.Helper()
	ctx := context.Background()
	n := &ovm.Notification{ID: ovm.NewID("evt", t0), Type: ovm.NotifyAccountQuarantined, Time: t0, Pool: "default",
		AccountID: "acc_1", LastError: "INVALID_EMAIL"}
	d := ovm.NewDelivery(n, t0)
	if err := f.store.DeliveryAdd(ctx, d); err != nil {
		f.t.Fatal(err)
	}
	c, err := ovm.ClaimDelivery(d, []*ovm.Subscription{{Name: "ops"}}, "test", t0, t0.Add(time.Minute))
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.DeliveryUpdate(ctx, c); err != nil {
		f.t.Fatal(err)
	}
	s := ovm.SettleDelivery(c, map[string]error{"ops": errors.New("post to hooks.example.com: 500 Internal Server Error")},
		ovm.RetryPolicy{MaxAttempts: 1}, t0)
	if s, err = f.store.DeliveryUpdate(ctx, s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func TestFailedDeliveriesAreListedAndSentAgainByAnAdmin(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	f.do("POST", "/v1/leases", f.user, `{}`) // a lease.created, delivered to nobody
	if _, err := f.eng.RunOnce(context.Background(), engine.WorkerNotifier); err != nil {
		t.Fatal(err)
	}
	failed := f.failedDelivery()

	var page client.Page[client.Delivery]
	r := f.do("GET", "/v1/deliveries?state=failed", f.admin, "")
	r.json(t, &page)
	if r.status != 200 || len(page.Items) != 1 || page.Items[0].ID != failed.ID || page.Items[0].Type != "account.quarantined" ||
		page.Items[0].Targets[0].LastError != "post to hooks.example.com: 500 Internal Server Error" || page.Items[0].Event.LastError != "INVALID_EMAIL" {
		t.Fatalf("failed deliveries: %d %s", r.status, r.body)
	}
	r = f.do("GET", "/v1/deliveries", f.admin, "")
	r.json(t, &page)
	// The lease lasts an hour, the default lead of lease.expiring: it is
	// expiring at once.
	types := map[string]string{}
	for _, d := range page.Items {
		types[d.Type] = d.State
	}
	if r.status != 200 || len(page.Items) != 3 || types["lease.created"] != "delivered" || types["lease.expiring"] != "delivered" {
		t.Fatalf("all deliveries: %d %s", r.status, r.body)
	}

	r = f.do("POST", "/v1/deliveries/"+failed.ID+"/retry", f.admin, "")
	var d client.Delivery
	r.json(t, &d)
	if r.status != 200 || d.State != "pending" || d.Targets[0].State != "pending" || d.Targets[0].Attempts != 0 || d.NextAttemptAt == nil {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	f.do("POST", "/v1/deliveries/"+failed.ID+"/retry", f.admin, "").wantError(t, 409, "conflict")
	if r := f.do("GET", "/v1/deliveries/"+failed.ID, f.admin, ""); r.status != 200 {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	f.do("GET", "/v1/deliveries?state=failed", f.admin, "").json(t, &page)
	if len(page.Items) != 0 {
		t.Fatalf("still failed after the retry: %+v", page.Items)
	}
}

func TestDeliveriesAreForAdminsAndCheckTheirInput(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	failed := f.failedDelivery()
	f.do("GET", "/v1/deliveries", f.user, "").wantError(t, 403, "forbidden")
	f.do("POST", "/v1/deliveries/"+failed.ID+"/retry", f.user, "").wantError(t, 403, "forbidden")
	f.do("GET", "/v1/deliveries?state=lost", f.admin, "").wantError(t, 400, "invalid")
	f.do("GET", "/v1/deliveries/evt_nope", f.admin, "").wantError(t, 404, "not_found")
	f.do("POST", "/v1/deliveries/evt_nope/retry", f.admin, "").wantError(t, 404, "not_found")
}
