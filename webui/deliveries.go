package webui

import (
	"net/http"
	"net/url"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

type deliveriesData struct {
	Next       string
	Deliveries []client.Delivery
	State      string
	States     []string
}

func (u *UI) deliveries(r *http.Request, s *session, v *view) error {
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "failed"
	}
	d := deliveriesData{State: state, States: []string{string(ovm.DeliveryFailed), string(ovm.DeliveryPending), string(ovm.DeliveryDelivered)}}
	v.Page, v.Title, v.Data = "deliveries", "Notification deliveries", &d
	ds, err := u.client(s).DeliveryList(r.Context(), withCursor(r, url.Values{"state": {state}, "limit": {"100"}}))
	if err != nil {
		return fieldError(v, "state", err)
	}
	d.Deliveries, d.Next = ds.Items, ds.NextCursor
	return nil
}

func (u *UI) deliveryRetry(w http.ResponseWriter, r *http.Request, s *session) {
	if _, err := u.client(s).DeliveryRetry(r.Context(), r.PathValue("id")); err != nil {
		u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
		return
	}
	http.Redirect(w, r, "/ui/deliveries?done=resent", http.StatusSeeOther)
}

// delivery is one delivery's page: the event it sends and how far each
// subscription's share of it got. A delivery no subscription wanted was
// sent to no one: it says so, not "delivered".
func (u *UI) delivery(r *http.Request, s *session, v *view) error {
	d, err := u.client(s).DeliveryGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v.Page, v.Title, v.Data = "delivery", "Delivery "+d.ID, d
	return nil
}
