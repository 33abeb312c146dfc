// Package webhook sends OVM's notifications as signed HTTP POSTs: the body
// is the notification's JSON, and a header (X-OVM-Signature by default)
// carries "sha256=" and the hex HMAC-SHA256 of the body under the
// subscription's secret. Receivers check it with Verify (or the few lines
// in docs/notifications.md) and de-duplicate on the notification's id,
// also sent as X-OVM-Event-Id.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
)

// Headers of every request.
const (
	DefaultSignatureHeader = "X-OVM-Signature"
	EventIDHeader          = "X-OVM-Event-Id"
	EventTypeHeader        = "X-OVM-Event-Type"
)

// Config is one webhook subscription's sink.
type Config struct {
	// URL receives the POSTs (http or https). It may hold a token: it is
	// never logged nor shown, only its host.
	URL string
	// Secret is the HMAC-SHA256 key of the signature (required).
	Secret []byte
	// SignatureHeader names the signature's header (default
	// X-OVM-Signature).
	SignatureHeader string
	// Timeout bounds one POST (default 10s).
	Timeout time.Duration
	// Client sends the requests (default: a client that does not follow
	// redirects).
	Client *http.Client
}

// Sink posts notifications to one URL.
type Sink struct {
	cfg  Config
	host string
}

var _ ovm.Sink = (*Sink)(nil)

// New checks cfg and returns its sink. Errors name the problem, never the
// URL or the secret.
func New(cfg Config) (*Sink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook: url must be an absolute http or https url")
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("webhook: a secret is required to sign the requests")
	}
	if cfg.SignatureHeader == "" {
		cfg.SignatureHeader = DefaultSignatureHeader
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Sink{cfg: cfg, host: u.Host}, nil
}

// Sign returns the signature header's value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (the header's value) signs body under
// secret, in constant time.
func Verify(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// Send implements ovm.Sink: a 2xx answer is acceptance; anything else, or
// no answer within the timeout, is an error to retry.
func (s *Sink) Send(ctx context.Context, n *ovm.Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("webhook: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return errors.New("webhook: bad url")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ovm-webhook")
	req.Header.Set(s.cfg.SignatureHeader, Sign(s.cfg.Secret, body))
	req.Header.Set(EventIDHeader, n.ID)
	req.Header.Set(EventTypeHeader, string(n.Type))
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		// The url.Error names the whole URL, which may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("post to %s: %v", s.host, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		msg := strings.Join(strings.Fields(string(snippet)), " ")
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("post to %s: %s%s", s.host, resp.Status, msg)
	}
	return nil
}
