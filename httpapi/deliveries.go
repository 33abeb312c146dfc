package httpapi

import (
	"net/http"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

func deliveryDTO(d *ovm.Delivery) client.Delivery {
	out := client.Delivery{ID: d.ID, Type: string(d.Event.Type), State: string(d.State), Event: d.Event, Attempts: d.Attempts,
		LastError: d.LastError, Targets: []client.DeliveryTarget{}, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
	if d.State == ovm.DeliveryPending {
		out.NextAttemptAt = timePtr(d.NextAttemptAt)
	}
	for _, t := range d.Targets {
		out.Targets = append(out.Targets, client.DeliveryTarget{Subscription: t.Subscription, State: string(t.State),
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
	out := client.Page[client.Delivery]{Items: []client.Delivery{}, NextCursor: next}
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
