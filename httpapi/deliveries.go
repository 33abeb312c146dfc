package httpapi

import (
	"net/http"
	"time"

	"github.com/ovmdev/ovm"
)

// Delivery is an outbox entry: the notification as it is sent (event) and
// how far its sending got, per subscription.
type Delivery struct {
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	State         string            `json:"state"`
	Event         *ovm.Notification `json:"event"`
	Attempts      int               `json:"attempts"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
	LastError     string            `json:"last_error,omitempty"`
	Targets       []DeliveryTarget  `json:"targets"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

// DeliveryTarget is one subscription's share of a delivery.
type DeliveryTarget struct {
	Subscription string     `json:"subscription"`
	State        string     `json:"state"`
	Attempts     int        `json:"attempts"`
	LastError    string     `json:"last_error,omitempty"`
	DeliveredAt  *time.Time `json:"delivered_at,omitempty"`
}

func deliveryDTO(d *ovm.Delivery) Delivery {
	out := Delivery{ID: d.ID, Type: string(d.Event.Type), State: string(d.State), Event: d.Event, Attempts: d.Attempts,
		LastError: d.LastError, Targets: []DeliveryTarget{}, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
	if d.State == ovm.DeliveryPending {
		out.NextAttemptAt = timePtr(d.NextAttemptAt)
	}
	for _, t := range d.Targets {
		out.Targets = append(out.Targets, DeliveryTarget{Subscription: t.Subscription, State: string(t.State),
			Attempts: t.Attempts, LastError: t.LastError, DeliveredAt: timePtr(t.DeliveredAt)})
	}
	return out
}

func (s *Server) deliveryList(w http.ResponseWriter, r *http.Request, p *principal) error {
	pp, err := pageParams(r)
	if err != nil {
		return err
	}
	params := &ovm.DeliveryListParams{PageParams: pp, State: ovm.DeliveryState(r.URL.Query().Get("state"))}
	if params.State != "" && !params.State.Valid() {
		return ovm.Errorf(ovm.EInvalid, "unknown delivery state %q (pending, delivered, failed)", params.State)
	}
	ds, next, err := s.store.DeliveryList(r.Context(), params)
	if err != nil {
		return err
	}
	out := Page[Delivery]{Items: []Delivery{}, NextCursor: next}
	for _, d := range ds {
		out.Items = append(out.Items, deliveryDTO(d))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) deliveryGet(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.store.DeliveryGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, deliveryDTO(d))
}

func (s *Server) deliveryRetry(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.engine.RetryDelivery(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.log.Info("delivery sent again", ovm.LogDeliveryID, d.ID, ovm.LogKeyName, p.Name)
	return writeJSON(w, http.StatusOK, deliveryDTO(d))
}
