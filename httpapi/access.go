package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// credentialFormats are the formats of POST /v1/leases/{id}/credentials.
var credentialFormats = []string{"json", "process", "env"}

func (s *Server) leaseCredentials(w http.ResponseWriter, r *http.Request, p *principal) error {
	// The route takes no body: one is an error, not ignored (it is read
	// within api.max_body_bytes).
	var none struct{}
	if err := decode(r, &none, true); err != nil {
		return err
	}
	q := r.URL.Query()
	if len(q["format"]) > 1 {
		return ovm.Errorf(ovm.EInvalid, "format is given %d times; give it once", len(q["format"]))
	}
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if !slices.Contains(credentialFormats, format) {
		return ovm.Errorf(ovm.EInvalid, "format must be one of %s", strings.Join(credentialFormats, ", "))
	}
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	c, err := s.engine.Credentials(r.Context(), l, p.actor())
	if err != nil {
		return err
	}
	out := client.Credentials{ProcessCredentials: client.ProcessCredentials{Version: 1, AccessKeyID: c.AccessKeyID,
		SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken, Expiration: c.Expiration.UTC().Format(time.RFC3339)},
		Region: c.Region, AccountID: l.AWSAccountID, LeaseID: l.ID, RoleARN: l.RoleARN, SessionName: c.SessionName,
		SourceIdentity: c.SourceIdentity, Simulated: c.Simulated}
	switch format {
	case "process":
		return writeJSON(w, http.StatusOK, out.ProcessCredentials)
	case "env":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, err := fmt.Fprint(w, out.EnvLines())
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) leaseConsole(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ConsoleRequest
	if err := decode(r, &req, true); err != nil {
		return err
	}
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	u, c, err := s.engine.ConsoleURL(r.Context(), l, p.actor(), req.Destination)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, client.ConsoleAnswer{URL: u, ExpiresAt: l.ExpiresAt.UTC(), Simulated: c.Simulated})
}
