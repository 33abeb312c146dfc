package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/ovmdev/ovm"
)

// Account is the JSON of an account.
type Account struct {
	ID               string            `json:"id"`
	AccountID        string            `json:"account_id"`
	Pool             string            `json:"pool"`
	State            ovm.AccountState  `json:"state"`
	Generation       int               `json:"generation"`
	Name             string            `json:"name"`
	Email            string            `json:"email"`
	CrossAccountRole string            `json:"cross_account_role,omitempty"`
	LeaseID          string            `json:"lease_id,omitempty"`
	ExternalRef      string            `json:"external_ref,omitempty"`
	Attempts         int               `json:"attempts"`
	LastError        string            `json:"last_error"`
	Waiting          string            `json:"waiting,omitempty"`
	QuarantinedFrom  string            `json:"quarantined_from,omitempty"`
	NextAttemptAt    *time.Time        `json:"next_attempt_at,omitempty"`
	Progress         map[string]string `json:"progress,omitempty"`
	Version          int64             `json:"version"`
	CreatedAt        time.Time         `json:"created_at"`
	UpdatedAt        time.Time         `json:"updated_at"`
	StateChangedAt   time.Time         `json:"state_changed_at"`
	// Events are the account's latest events, newest first (the server
	// includes its newest 100); EventsNextCursor continues with older ones
	// at GET /v1/accounts/{id}/events.
	Events           []Event `json:"events,omitempty"`
	EventsNextCursor string  `json:"events_next_cursor,omitempty"`
}

// Event is the JSON of an event.
type Event struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	LeaseID string    `json:"lease_id,omitempty"`
	Actor   string    `json:"actor"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Reason  string    `json:"reason,omitempty"`
}

// InputRequest is the body of POST /v1/accounts/{id}/input: a value a
// sign-up step waits for (a human's captcha answer, a relayed 3-D Secure
// code). The value is never shown back.
type InputRequest struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// EvidenceCSP is the Content-Security-Policy of an evidence file: a
// captured page runs no script and gets an origin of its own. The API
// serves evidence files with it; a program that serves them again (the
// console) sends it too.
const EvidenceCSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"

// AccountList calls GET /v1/accounts with query parameters q.
func (c *Client) AccountList(ctx context.Context, q url.Values) (*Page[Account], error) {
	var out Page[Account]
	return &out, c.do(ctx, http.MethodGet, "/v1/accounts"+query(q), nil, &out)
}

// AccountGet calls GET /v1/accounts/{id}.
func (c *Client) AccountGet(ctx context.Context, id string) (*Account, error) {
	var out Account
	return &out, c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(id), nil, &out)
}

// AccountEvents calls GET /v1/accounts/{id}/events with query parameters q
// (cursor, limit, order).
func (c *Client) AccountEvents(ctx context.Context, id string, q url.Values) (*Page[Event], error) {
	var out Page[Event]
	return &out, c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(id)+"/events"+query(q), nil, &out)
}

// AccountRetry calls POST /v1/accounts/{id}/retry.
func (c *Client) AccountRetry(ctx context.Context, id string) (*Account, error) {
	var out Account
	return &out, c.do(ctx, http.MethodPost, "/v1/accounts/"+url.PathEscape(id)+"/retry", nil, &out)
}

// AccountRetire calls POST /v1/accounts/{id}/retire.
func (c *Client) AccountRetire(ctx context.Context, id string) (*Account, error) {
	var out Account
	return &out, c.do(ctx, http.MethodPost, "/v1/accounts/"+url.PathEscape(id)+"/retire", nil, &out)
}

// Evidence calls GET /v1/accounts/{id}/evidence.
func (c *Client) Evidence(ctx context.Context, id string) (*Page[ovm.Evidence], error) {
	var out Page[ovm.Evidence]
	return &out, c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(id)+"/evidence", nil, &out)
}

// EvidenceFile calls GET /v1/accounts/{id}/evidence/{record}/{file}: the
// file's bytes and content type.
func (c *Client) EvidenceFile(ctx context.Context, id, record, file string) ([]byte, string, error) {
	var out rawBody
	err := c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(id)+"/evidence/"+url.PathEscape(record)+"/"+url.PathEscape(file), nil, &out)
	return out.data, out.contentType, err
}
