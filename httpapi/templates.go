package httpapi

import (
	"net/http"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/guardrail"
)

// templateList answers the templates p may use (admins: every one).
func (s *Server) templateList(w http.ResponseWriter, r *http.Request, p *principal) error {
	out := client.Page[client.Template]{Items: []client.Template{}}
	for _, t := range s.engine.Templates() {
		if p.admin() || t.Allows(p.requester()) {
			out.Items = append(out.Items, templateDTO(t, p))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// templateGet answers one template; one p may not use is not found, as if
// it did not exist.
func (s *Server) templateGet(w http.ResponseWriter, r *http.Request, p *principal) error {
	name := r.PathValue("name")
	t := s.engine.Template(name)
	if t == nil || !p.admin() && !t.Allows(p.requester()) {
		return ovm.Errorf(ovm.ENotFound, "template %q: %w", name, ovm.ErrNotFound)
	}
	return writeJSON(w, http.StatusOK, templateDTO(t, p))
}

// templateDTO is t as p sees it: who else may use it only for admins.
func templateDTO(t *ovm.Template, p *principal) client.Template {
	d := client.Template{Name: t.Name, Description: t.Description, Pool: t.Pool, DefaultTTL: client.Duration(t.Lease.DefaultTTL),
		MaxTTL: client.Duration(t.Lease.MaxTTL), MinTTL: client.Duration(t.Lease.MinTTL), MaxPerOwner: t.Lease.MaxPerOwner,
		MaxPerTeam: t.MaxPerTeam, Guardrails: t.Guardrails, GuardrailSummary: guardrail.Summary(t.Guardrails),
		GuardrailVersion: t.GuardrailVersion, Implicit: t.Implicit}
	if p.admin() {
		d.Allowed = t.Allowed
	}
	return d
}
