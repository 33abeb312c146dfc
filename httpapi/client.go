package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ovmdev/ovm"
)

// Client calls an OVM server. The CLI uses it; so can other Go programs.
type Client struct {
	// BaseURL is the server, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Token is the API key sent as a bearer token.
	Token string
	// HTTP is the client to use (default: one with a 2-minute timeout
	// plus the wait of a long-polling lease request).
	HTTP *http.Client
}

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the answer's Retry-After, if any.
	RetryAfter time.Duration
}

// Error implements error: the message, status and code.
func (e *APIError) Error() string { return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code) }

// VendResponse is the answer of GET /vend.
type VendResponse struct {
	AccountID        string `json:"account_id"`
	CrossAccountRole string `json:"cross_account_role"`
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.send(ctx, method, path, "", in, out)
}

// retryDelays are the waits before the retries of a request sent with an
// idempotency key: a lost answer (a reset connection, a replica that died,
// a gateway's 502 or 504) is asked again, and the server answers the first
// vend's lease instead of making a second.
var retryDelays = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// doIdempotent sends a vend with a fresh Idempotency-Key and sends it again,
// with the same key, when its answer is lost.
func (c *Client) doIdempotent(ctx context.Context, method, path string, in, out any) error {
	var b [16]byte
	rand.Read(b[:])
	key := hex.EncodeToString(b[:])
	for attempt := 0; ; attempt++ {
		err := c.send(ctx, method, path, key, in, out)
		if err == nil || attempt == len(retryDelays) || !answerLost(ctx, err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(retryDelays[attempt]):
		}
	}
}

// answerLost reports whether err may have lost the answer of a request the
// server made (or never got): worth asking again with the same key.
func answerLost(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		// A gateway in front of OVM lost the answer, or a request with the
		// same key is still in progress.
		return ae.Status == http.StatusBadGateway || ae.Status == http.StatusGatewayTimeout ||
			ae.Status == http.StatusConflict && ae.RetryAfter > 0
	}
	// A refused connection reached no server: nothing was made, and no
	// server is there to answer a retry soon.
	return !errors.Is(err, syscall.ECONNREFUSED) // transport: reset, EOF, timeout
}

func (c *Client) send(ctx context.Context, method, path, idempotencyKey string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if idempotencyKey != "" {
		req.Header.Set(IdempotencyKeyHeader, idempotencyKey)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2*time.Minute + 5*time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var ra time.Duration
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
			ra = time.Duration(n) * time.Second
		}
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			return &APIError{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data)), RetryAfter: ra}
		}
		return &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, RetryAfter: ra}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*rawBody); ok {
		raw.data, raw.contentType = data, resp.Header.Get("Content-Type")
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return nil
}

// Vend calls GET /vend with an Idempotency-Key, and again with the same key
// when the answer is lost.
func (c *Client) Vend(ctx context.Context) (*VendResponse, error) {
	var out VendResponse
	return &out, c.doIdempotent(ctx, http.MethodGet, "/vend", nil, &out)
}

// LeaseCreate calls POST /v1/leases with an Idempotency-Key, and again with
// the same key when the answer is lost: one lease, however often it is sent.
func (c *Client) LeaseCreate(ctx context.Context, req *LeaseRequest) (*Lease, error) {
	var out Lease
	return &out, c.doIdempotent(ctx, http.MethodPost, "/v1/leases", req, &out)
}

// LeaseGet calls GET /v1/leases/{id}.
func (c *Client) LeaseGet(ctx context.Context, id string) (*Lease, error) {
	var out Lease
	return &out, c.do(ctx, http.MethodGet, "/v1/leases/"+url.PathEscape(id), nil, &out)
}

// LeaseList calls GET /v1/leases with query parameters q.
func (c *Client) LeaseList(ctx context.Context, q url.Values) (*Page[Lease], error) {
	var out Page[Lease]
	return &out, c.do(ctx, http.MethodGet, "/v1/leases"+query(q), nil, &out)
}

// LeaseExtend calls PATCH /v1/leases/{id}.
func (c *Client) LeaseExtend(ctx context.Context, id string, req *ExtendRequest) (*Lease, error) {
	var out Lease
	return &out, c.do(ctx, http.MethodPatch, "/v1/leases/"+url.PathEscape(id), req, &out)
}

// LeaseRelease calls DELETE /v1/leases/{id}.
func (c *Client) LeaseRelease(ctx context.Context, id string) (*Lease, error) {
	var out Lease
	return &out, c.do(ctx, http.MethodDelete, "/v1/leases/"+url.PathEscape(id), nil, &out)
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

// DeliveryList calls GET /v1/deliveries.
func (c *Client) DeliveryList(ctx context.Context, q url.Values) (*Page[Delivery], error) {
	var out Page[Delivery]
	return &out, c.do(ctx, http.MethodGet, "/v1/deliveries"+query(q), nil, &out)
}

// DeliveryGet calls GET /v1/deliveries/{id}.
func (c *Client) DeliveryGet(ctx context.Context, id string) (*Delivery, error) {
	var out Delivery
	return &out, c.do(ctx, http.MethodGet, "/v1/deliveries/"+url.PathEscape(id), nil, &out)
}

// DeliveryRetry calls POST /v1/deliveries/{id}/retry.
func (c *Client) DeliveryRetry(ctx context.Context, id string) (*Delivery, error) {
	var out Delivery
	return &out, c.do(ctx, http.MethodPost, "/v1/deliveries/"+url.PathEscape(id)+"/retry", nil, &out)
}

// PoolList calls GET /v1/pools.
func (c *Client) PoolList(ctx context.Context) (*Page[Pool], error) {
	var out Page[Pool]
	return &out, c.do(ctx, http.MethodGet, "/v1/pools", nil, &out)
}

// PoolGet calls GET /v1/pools/{name}.
func (c *Client) PoolGet(ctx context.Context, name string) (*Pool, error) {
	var out Pool
	return &out, c.do(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(name), nil, &out)
}

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

// LeaseEvents calls GET /v1/leases/{id}/events with query parameters q
// (cursor, limit, order).
func (c *Client) LeaseEvents(ctx context.Context, id string, q url.Values) (*Page[Event], error) {
	var out Page[Event]
	return &out, c.do(ctx, http.MethodGet, "/v1/leases/"+url.PathEscape(id)+"/events"+query(q), nil, &out)
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

// KeyCreate calls POST /v1/keys; the answer holds the secret, once.
func (c *Client) KeyCreate(ctx context.Context, req *KeyRequest) (*Key, error) {
	var out Key
	return &out, c.do(ctx, http.MethodPost, "/v1/keys", req, &out)
}

// KeyList calls GET /v1/keys.
func (c *Client) KeyList(ctx context.Context, q url.Values) (*Page[Key], error) {
	var out Page[Key]
	return &out, c.do(ctx, http.MethodGet, "/v1/keys"+query(q), nil, &out)
}

// KeyRevoke calls DELETE /v1/keys/{id}.
func (c *Client) KeyRevoke(ctx context.Context, id string) (*Key, error) {
	var out Key
	return &out, c.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil, &out)
}

func query(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// rawBody is an answer that is not JSON: its bytes and content type.
type rawBody struct {
	data        []byte
	contentType string
}

// Me calls GET /v1/me.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var out Me
	return &out, c.do(ctx, http.MethodGet, "/v1/me", nil, &out)
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

// PoolHistory calls GET /v1/pools/{name}/history.
func (c *Client) PoolHistory(ctx context.Context, name string) (*History, error) {
	var out History
	return &out, c.do(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(name)+"/history", nil, &out)
}
