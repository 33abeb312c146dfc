package httpapi

import (
	"net/http"

	"github.com/ovmdev/ovm/client"
)

func (s *Server) poolHistory(w http.ResponseWriter, r *http.Request, _ *principal) error {
	name := r.PathValue("name")
	h, err := s.engine.History(r.Context(), name)
	if err != nil {
		return err
	}
	out := client.History{Pool: name, Points: make([]client.HistoryPoint, 0, len(h))}
	for i, p := range h {
		hp := client.HistoryPoint{At: p.At, Vends: p.Vends}
		if p.Sampled {
			hp.Ready, hp.Target = &h[i].Ready, &h[i].Target
		}
		out.Points = append(out.Points, hp)
	}
	if len(h) > 1 {
		out.Interval = client.Duration(h[1].At.Sub(h[0].At))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) poolDemand(w http.ResponseWriter, r *http.Request, _ *principal) error {
	d, err := s.engine.Demand(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	out := client.Demand{Pool: d.Pool, Since: d.Since.UTC(), LeadTime: client.Duration(d.LeadTime), Leases: d.Leases, Misses: d.Misses,
		CountedMisses: d.CountedMisses, Owners: []client.OwnerDemand{}}
	for _, o := range d.Owners {
		out.Owners = append(out.Owners, client.OwnerDemand(o))
	}
	return writeJSON(w, http.StatusOK, out)
}
