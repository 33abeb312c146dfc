// Package twocaptcha solves captchas through a captcha-solving service that
// speaks the 2captcha HTTP API (in.php to submit, res.php to poll), as
// 2captcha and several compatible services do. Images are sent with method
// "base64", audio with method "audio". The account key is a secret: it never
// appears in errors or logs.
package twocaptcha

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ovmdev/ovm/provider/signup"
)

// Solver implements signup.CaptchaSolver on a 2captcha-compatible service.
type Solver struct {
	URL     string // service base, e.g. https://2captcha.com (required)
	Key     string // account key (a secret)
	For     []string
	Client  *http.Client
	Poll    time.Duration // default 5s, as the service asks
	Timeout time.Duration // one captcha's budget (default 3m)
}

var _ signup.CaptchaSolver = (*Solver)(nil)

// Name implements signup.CaptchaSolver.
func (s *Solver) Name() string {
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" {
		return "2captcha"
	}
	return "2captcha:" + u.Host
}

// Kinds implements signup.CaptchaSolver.
func (s *Solver) Kinds() []string {
	if len(s.For) == 0 {
		return []string{"image", "audio"}
	}
	return s.For
}

// answer is the service's JSON reply (json=1).
type answer struct {
	Status  int    `json:"status"`
	Request string `json:"request"`
}

// Solve implements signup.CaptchaSolver.
func (s *Solver) Solve(ctx context.Context, c signup.Captcha) (string, error) {
	timeout, poll := s.Timeout, s.Poll
	if timeout == 0 {
		timeout = 3 * time.Minute
	}
	if poll == 0 {
		poll = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	form := url.Values{"key": {s.Key}, "json": {"1"}, "body": {base64.StdEncoding.EncodeToString(c.Data)}}
	switch c.Kind {
	case "image":
		form.Set("method", "base64")
		form.Set("numeric", "0")
	case "audio":
		form.Set("method", "audio")
		form.Set("lang", "en")
	default:
		return "", fmt.Errorf("%s: captcha kind %q is not supported", s.Name(), c.Kind)
	}
	a, err := s.call(ctx, "in.php", form)
	if err != nil {
		return "", err
	}
	id := a.Request
	// The service asks for a first wait before the answer can be ready.
	for {
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s: no answer for captcha %s in %s", s.Name(), id, timeout)
		case <-time.After(poll): // a real-time poll: the service's solvers work at their own pace
		}
		a, err := s.call(ctx, "res.php", url.Values{"key": {s.Key}, "action": {"get"}, "id": {id}, "json": {"1"}})
		var notReady errNotReady
		if errors.As(err, &notReady) {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(a.Request), nil
	}
}

type errNotReady struct{}

func (errNotReady) Error() string { return "not ready" }

// call posts form to endpoint and decodes the answer. Errors name the
// endpoint and the service's error code, never the form (it holds the key).
func (s *Solver) call(ctx context.Context, endpoint string, form url.Values) (answer, error) {
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	where := strings.TrimRight(s.URL, "/") + "/" + endpoint
	req, err := http.NewRequestWithContext(ctx, "POST", where, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{}, fmt.Errorf("%s: %s: bad service URL", s.Name(), endpoint)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return answer{}, fmt.Errorf("%s: %s: %w", s.Name(), endpoint, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return answer{}, fmt.Errorf("%s: %s: HTTP %d", s.Name(), endpoint, res.StatusCode)
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		return answer{}, fmt.Errorf("%s: %s: not the 2captcha JSON answer", s.Name(), endpoint)
	}
	switch {
	case a.Status == 1:
		return a, nil
	case a.Request == "CAPCHA_NOT_READY" || a.Request == "CAPTCHA_NOT_READY":
		return a, errNotReady{}
	default:
		return a, fmt.Errorf("%s: %s: %s", s.Name(), endpoint, a.Request)
	}
}
