// Package federation builds AWS console sign-in URLs from temporary
// credentials through the AWS federation endpoint, as AWS documents it:
// Action=getSigninToken exchanges the credentials for a sign-in token,
// and Action=login with that token, an issuer and a destination is the URL
// a browser opens.
//
// The known trap is handled: the endpoint refuses SessionDuration for
// credentials of a role-chained session (OVM itself running on a role), so
// the parameter is left out for them, and when the endpoint refuses it
// anyway the request is repeated without it; the console session then
// lasts as long as the credentials.
//
// A destination is a page of the AWS console and nothing that could be
// read as another host (CheckDestination).
//
// The credentials travel in the request's query, as the protocol wants;
// they never reach an error or a log of this package.
package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ovmdev/ovm"
)

// Config is the `access:` block's federation part.
type Config struct {
	// Endpoint is the federation endpoint (default
	// https://signin.aws.amazon.com/federation).
	Endpoint string `yaml:"federation_endpoint"`
	// Destination is the console page a sign-in lands on unless the
	// request names one (default https://console.aws.amazon.com/).
	Destination string `yaml:"console_destination"`
	// Issuer is the Issuer parameter of the login URL: where the console
	// sends a user whose session ended (default: none).
	Issuer string `yaml:"issuer"`
	// Timeout bounds one call to the endpoint (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultEndpoint is AWS's federation endpoint.
const DefaultEndpoint = "https://signin.aws.amazon.com/federation"

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if c.Destination == "" {
		c.Destination = "https://console.aws.amazon.com/"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	return c
}

// Validate names the first bad key (under prefix, e.g. "access.").
func (c Config) Validate(prefix string) error {
	u, err := url.Parse(c.Endpoint)
	if c.Endpoint != "" && (err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname())))) {
		return &ovm.FieldError{Field: prefix + "federation_endpoint", Message: "must be an https URL (http only on loopback, for tests)"}
	}
	if err := CheckDestination(c.Destination); err != nil {
		return &ovm.FieldError{Field: prefix + "console_destination", Message: "must be an https URL of the AWS console: " +
			ovm.ConsoleDestinationFault(c.Destination)}
	}
	if c.Issuer != "" {
		if u, err := url.Parse(c.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
			return &ovm.FieldError{Field: prefix + "issuer", Message: "must be an https URL (where a signed-out user goes)"}
		}
	}
	if c.Timeout < 0 {
		return &ovm.FieldError{Field: prefix + "timeout", Message: "must not be negative"}
	}
	return nil
}

func loopback(host string) bool { return host == "127.0.0.1" || host == "localhost" || host == "::1" }

// Client talks to the federation endpoint.
type Client struct {
	cfg  Config
	http *http.Client
	log  *slog.Logger
}

// New returns a client of cfg's endpoint (hc nil: a default client).
func New(cfg Config, hc *http.Client, log *slog.Logger) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	cfg = cfg.WithDefaults()
	hc2 := *hc
	hc2.Timeout = cfg.Timeout
	hc2.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{cfg: cfg, http: &hc2, log: log}
}

// MinSession and MaxSession bound a console session (SessionDuration).
const (
	MinSession = 15 * time.Minute
	MaxSession = 12 * time.Hour
)

// SigninURL exchanges c for a sign-in token and returns the login URL that
// lands on destination ("" for the configured one), which must pass
// CheckDestination. session is how long
// the console session should last; it is clamped to [MinSession,
// MaxSession] and not sent for role-chained credentials. The URL signs in
// once, within 15 minutes.
func (cl *Client) SigninURL(ctx context.Context, c *ovm.Credentials, destination string, session time.Duration) (string, error) {
	if destination == "" {
		destination = cl.cfg.Destination
	}
	if err := CheckDestination(destination); err != nil {
		return "", err
	}
	dur := min(max(session, MinSession), MaxSession)
	token, err := cl.signinToken(ctx, c, dur, !c.RoleChained)
	var refused *refusal
	if errors.As(err, &refused) && !c.RoleChained {
		// The trap: credentials of a chained session refuse a duration.
		cl.log.Debug("the federation endpoint refused a session duration; asking without one (role-chained credentials)",
			"status", refused.status)
		token, err = cl.signinToken(ctx, c, 0, false)
	}
	if err != nil {
		return "", err
	}
	q := url.Values{"Action": {"login"}, "Destination": {destination}, "SigninToken": {token}}
	if cl.cfg.Issuer != "" {
		q.Set("Issuer", cl.cfg.Issuer)
	}
	return cl.cfg.Endpoint + "?" + q.Encode(), nil
}

// refusal is a 4xx answer of getSigninToken.
type refusal struct{ status int }

func (r *refusal) Error() string {
	return fmt.Sprintf("the federation endpoint refused the credentials (HTTP %d)", r.status)
}

func (cl *Client) signinToken(ctx context.Context, c *ovm.Credentials, dur time.Duration, withDuration bool) (string, error) {
	session, _ := json.Marshal(map[string]string{"sessionId": c.AccessKeyID, "sessionKey": c.SecretAccessKey, "sessionToken": c.SessionToken})
	q := url.Values{"Action": {"getSigninToken"}, "Session": {string(session)}}
	if withDuration {
		q.Set("SessionDuration", strconv.Itoa(int(dur/time.Second)))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.cfg.Endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return "", fmt.Errorf("federation endpoint %s: bad URL", cl.cfg.Endpoint)
	}
	res, err := cl.http.Do(req)
	if err != nil {
		// A *url.Error prints the URL, which holds the credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("federation endpoint %s: %w", cl.cfg.Endpoint, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	switch {
	case res.StatusCode >= 400 && res.StatusCode < 500:
		return "", &refusal{status: res.StatusCode}
	case res.StatusCode != http.StatusOK:
		return "", fmt.Errorf("federation endpoint %s answered HTTP %d", cl.cfg.Endpoint, res.StatusCode)
	}
	var out struct{ SigninToken string }
	if err := json.Unmarshal(body, &out); err != nil || out.SigninToken == "" {
		return "", fmt.Errorf("federation endpoint %s answered no SigninToken", cl.cfg.Endpoint)
	}
	return out.SigninToken, nil
}
