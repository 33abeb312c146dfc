// Package client is the Go client of OVM's HTTP API and the request and
// answer types the API encodes: what the CLI, the web console and other Go
// programs share. It imports no server: besides the standard library only
// the domain package ovm (itself standard library only), so a program that
// leases accounts does not build the engine, a store or a provider (a test
// in the module's root enforces it).
//
// Each file holds one resource's types and the Client methods that fetch
// them, the way Nomad's and Vault's api packages do.
package client

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

// ErrorBody is the JSON of every error response.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Page is the JSON of a list.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// Duration is a Go duration string in JSON ("90s", "24h").
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return ovm.Errorf(ovm.EInvalid, "durations are strings like \"90s\", \"30m\" or \"24h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return ovm.Errorf(ovm.EInvalid, "invalid duration %q: use a string like \"90s\", \"30m\" or \"24h\"", s)
	}
	if v < 0 {
		return ovm.Errorf(ovm.EInvalid, "duration %q must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

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
	if hr, ok := out.(headerReader); ok {
		hr.readHeader(resp.Header)
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

func query(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// headerReader is an answer that takes something from the headers too.
type headerReader interface{ readHeader(http.Header) }

// rawBody is an answer that is not JSON: its bytes and content type.
type rawBody struct {
	data        []byte
	contentType string
}
