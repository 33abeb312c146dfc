package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
)

// ProcessCredentials is the credential_process JSON (Version 1), with the
// names of `aws configure export-credentials --format process`.
type ProcessCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
}

// Credentials is the answer of POST /v1/leases/{id}/credentials (format
// json): the credential_process fields and what they are for.
type Credentials struct {
	ProcessCredentials
	Region         string `json:"Region"`
	AccountID      string `json:"AccountId"`
	LeaseID        string `json:"LeaseId"`
	RoleARN        string `json:"RoleArn"`
	SessionName    string `json:"SessionName"`
	SourceIdentity string `json:"SourceIdentity"`
	// Simulated marks credentials of the sim provider: they open nothing.
	Simulated bool `json:"Simulated,omitempty"`
}

// ConsoleRequest is the optional body of POST /v1/leases/{id}/console.
type ConsoleRequest struct {
	// Destination is the console page to land on (default: the console's
	// home).
	Destination string `json:"destination"`
}

// ConsoleAnswer is the answer of POST /v1/leases/{id}/console. The URL
// signs in once, within 15 minutes (AWS's limit); the console session it
// opens ends with the lease at the latest (the revocation denies it).
type ConsoleAnswer struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	Simulated bool      `json:"simulated,omitempty"`
}

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
	out := Credentials{ProcessCredentials: ProcessCredentials{Version: 1, AccessKeyID: c.AccessKeyID,
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

// Env are the credentials as environment variables: those of `aws
// configure export-credentials --format env`, the region, and the
// lease's ids.
func (c Credentials) Env() [][2]string {
	return [][2]string{
		{"AWS_ACCESS_KEY_ID", c.AccessKeyID}, {"AWS_SECRET_ACCESS_KEY", c.SecretAccessKey},
		{"AWS_SESSION_TOKEN", c.SessionToken}, {"AWS_CREDENTIAL_EXPIRATION", c.Expiration},
		{"AWS_REGION", c.Region}, {"OVM_LEASE_ID", c.LeaseID}, {"OVM_ACCOUNT_ID", c.AccountID},
	}
}

// EnvLines are Env as shell export lines.
func (c Credentials) EnvLines() string {
	var b strings.Builder
	for _, kv := range c.Env() {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (s *Server) leaseConsole(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req ConsoleRequest
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
	return writeJSON(w, http.StatusOK, ConsoleAnswer{URL: u, ExpiresAt: l.ExpiresAt.UTC(), Simulated: c.Simulated})
}
