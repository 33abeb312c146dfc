package httpapi

import (
	"net/http"
	"time"
)

// History is the answer of GET /v1/pools/{name}/history: the pool's last
// day, one point per interval, oldest first.
type History struct {
	Pool     string         `json:"pool"`
	Interval Duration       `json:"interval"`
	Points   []HistoryPoint `json:"points"`
}

// HistoryPoint is one interval: the sampled ready stock and target (absent
// where OVM recorded no sample) and the vends asked for.
type HistoryPoint struct {
	At     time.Time `json:"at"`
	Ready  *int      `json:"ready,omitempty"`
	Target *int      `json:"target,omitempty"`
	Vends  int       `json:"vends"`
}

func (s *Server) poolHistory(w http.ResponseWriter, r *http.Request, _ *principal) error {
	name := r.PathValue("name")
	h, err := s.engine.History(r.Context(), name)
	if err != nil {
		return err
	}
	out := History{Pool: name, Points: make([]HistoryPoint, 0, len(h))}
	for i, p := range h {
		hp := HistoryPoint{At: p.At, Vends: p.Vends}
		if p.Sampled {
			hp.Ready, hp.Target = &h[i].Ready, &h[i].Target
		}
		out.Points = append(out.Points, hp)
	}
	if len(h) > 1 {
		out.Interval = Duration(h[1].At.Sub(h[0].At))
	}
	return writeJSON(w, http.StatusOK, out)
}

// Demand is the answer of GET /v1/pools/{name}/demand (admin): where the
// pool's demand came from since since, the stock target's input. Misses
// are vends the stock refused; counted_misses those the demand model
// counts (an owner's misses weigh like one waiting owner).
type Demand struct {
	Pool          string        `json:"pool"`
	Since         time.Time     `json:"since"`
	LeadTime      Duration      `json:"lead_time"`
	Leases        int           `json:"leases"`
	Misses        int           `json:"misses"`
	CountedMisses int           `json:"counted_misses"`
	Owners        []OwnerDemand `json:"owners"`
}

// OwnerDemand is one owner's part of a pool's demand.
type OwnerDemand struct {
	Owner         string `json:"owner"`
	Leases        int    `json:"leases"`
	Misses        int    `json:"misses"`
	CountedMisses int    `json:"counted_misses"`
}

func (s *Server) poolDemand(w http.ResponseWriter, r *http.Request, _ *principal) error {
	d, err := s.engine.Demand(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	out := Demand{Pool: d.Pool, Since: d.Since.UTC(), LeadTime: Duration(d.LeadTime), Leases: d.Leases, Misses: d.Misses,
		CountedMisses: d.CountedMisses, Owners: []OwnerDemand{}}
	for _, o := range d.Owners {
		out.Owners = append(out.Owners, OwnerDemand(o))
	}
	return writeJSON(w, http.StatusOK, out)
}
