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
