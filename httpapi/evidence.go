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
	return writeJSON(w, http.StatusOK, client.Me{Name: p.Name, Role: p.Role, Kind: kind})
}

// evidenceKeeper returns the provider that keeps the evidence of the
// account in the path, and the account.
func (s *Server) evidenceKeeper(r *http.Request) (ovm.EvidenceKeeper, *ovm.Account, error) {
	a, err := s.store.AccountGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, nil, err
	}
	if ep := s.engine.Pool(a.Pool); ep != nil {
		if k, ok := ep.Provider.(ovm.EvidenceKeeper); ok {
			return k, a, nil
		}
	}
	return nil, a, nil
}

func (s *Server) evidenceList(w http.ResponseWriter, r *http.Request, _ *principal) error {
	k, a, err := s.evidenceKeeper(r)
	if err != nil {
		return err
	}
	out := client.Page[ovm.Evidence]{Items: []ovm.Evidence{}}
	if k != nil {
		recs, err := k.Evidence(r.Context(), a.ID)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, recs...)
	}
	return writeJSON(w, http.StatusOK, out)
}

// evidenceTypes are the content types of the files a record may hold;
// any other file is served as plain text.
var evidenceTypes = map[string]string{".jpg": "image/jpeg", ".png": "image/png", ".html": "text/html; charset=utf-8"}

func (s *Server) evidenceFile(w http.ResponseWriter, r *http.Request, _ *principal) error {
	k, a, err := s.evidenceKeeper(r)
	if err != nil {
		return err
	}
	record, file := r.PathValue("record"), r.PathValue("file")
	if k == nil {
		return ovm.Errorf(ovm.ENotFound, "account %s has no evidence %s/%s: %w", a.ID, record, file, ovm.ErrNotFound)
	}
	b, err := k.EvidenceFile(r.Context(), a.ID, record, file)
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
