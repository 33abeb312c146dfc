package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
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

// Env are the credentials as environment variables: those of `aws
// configure export-credentials --format env`, the region (AWS_REGION for
// the SDKs, AWS_DEFAULT_REGION for the AWS CLI v1 and older tools), and the
// lease's ids.
func (c Credentials) Env() [][2]string {
	return [][2]string{
		{"AWS_ACCESS_KEY_ID", c.AccessKeyID}, {"AWS_SECRET_ACCESS_KEY", c.SecretAccessKey},
		{"AWS_SESSION_TOKEN", c.SessionToken}, {"AWS_CREDENTIAL_EXPIRATION", c.Expiration},
		{"AWS_REGION", c.Region}, {"AWS_DEFAULT_REGION", c.Region}, {"OVM_LEASE_ID", c.LeaseID}, {"OVM_ACCOUNT_ID", c.AccountID},
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

// ConsoleRequest is the optional body of POST /v1/leases/{id}/console.
type ConsoleRequest struct {
	// Destination is the console page to land on (default: the console's
	// home).
	Destination string `json:"destination"`
}

// ConsoleAnswer is the answer of POST /v1/leases/{id}/console. The URL
// signs in once, within 15 minutes (AWS's limit); the console session it
// opens ends with the lease at the latest (the revocation denies it), at
// ExpiresAt, the lease's end.
type ConsoleAnswer struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expires_at"`
	Simulated bool      `json:"simulated,omitempty"`
}

// LeaseCredentials calls POST /v1/leases/{id}/credentials (format json).
func (c *Client) LeaseCredentials(ctx context.Context, id string) (*Credentials, error) {
	var out Credentials
	return &out, c.do(ctx, http.MethodPost, "/v1/leases/"+url.PathEscape(id)+"/credentials", nil, &out)
}

// LeaseConsole calls POST /v1/leases/{id}/console.
func (c *Client) LeaseConsole(ctx context.Context, id, destination string) (*ConsoleAnswer, error) {
	var out ConsoleAnswer
	return &out, c.do(ctx, http.MethodPost, "/v1/leases/"+url.PathEscape(id)+"/console", &ConsoleRequest{Destination: destination}, &out)
}
