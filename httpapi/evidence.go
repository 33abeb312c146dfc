package httpapi

import (
	"net/http"
	"path"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

func (s *Server) me(w http.ResponseWriter, r *http.Request, p *principal) error {
	kind := "key"
	if p.KeyID == "" {
		kind = "token"
	}
	caps, err := s.engine.CapsOf(r.Context(), p.Name, p.Teams)
	if err != nil {
		return err
	}
	if caps == nil {
		caps = []ovm.CapStatus{}
	}
	return writeJSON(w, http.StatusOK, client.Me{Name: p.Name, Role: p.Role, Kind: kind, Teams: p.Teams, Caps: caps})
}

func (s *Server) evidenceList(w http.ResponseWriter, r *http.Request, _ *principal) error {
	recs, err := s.engine.Evidence(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := client.Page[ovm.Evidence]{Items: []ovm.Evidence{}}
	out.Items = append(out.Items, recs...)
	return writeJSON(w, http.StatusOK, out)
}

// evidenceTypes are the content types of the files a record may hold;
// any other file is served as plain text.
var evidenceTypes = map[string]string{".jpg": "image/jpeg", ".png": "image/png", ".html": "text/html; charset=utf-8"}

func (s *Server) evidenceFile(w http.ResponseWriter, r *http.Request, _ *principal) error {
	file := r.PathValue("file")
	b, err := s.engine.EvidenceFile(r.Context(), r.PathValue("id"), r.PathValue("record"), file)
	if err != nil {
		return err
	}
	ct, ok := evidenceTypes[path.Ext(file)]
	if !ok {
		ct = "text/plain; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// A captured page is someone else's HTML: no script runs, and it gets
	// an origin of its own, never OVM's.
	w.Header().Set("Content-Security-Policy", client.EvidenceCSP)
	w.Header().Set("Cache-Control", "private, no-store")
	_, err = w.Write(b)
	return err
}
