// Package federationtest is a stand-in for the AWS federation endpoint
// (signin.aws.amazon.com/federation) on loopback, speaking the documented
// protocol: Action=getSigninToken takes a Session JSON of temporary
// credentials (and an optional SessionDuration, 900-43200 s, refused for
// role-chained credentials as AWS does) and answers {"SigninToken"};
// Action=login takes that token once, within 15 minutes, and redirects to
// the Destination.
//
// It fills the gap that no real part can run here: AWS's sign-in service.
// Valid decides whether credentials are good (a test checks them against
// moto's STS, say); Chained marks credentials of a chained role session.
package federationtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Credentials are what a Session JSON carries.
type Credentials struct{ ID, Key, Token string }

// SignIn is one accepted login.
type SignIn struct {
	Credentials
	Destination, Issuer string
	// Duration is the SessionDuration asked for (0: none).
	Duration time.Duration
}

// Server is the stand-in.
type Server struct {
	*httptest.Server
	// Valid reports whether credentials are good (nil: all are).
	Valid func(Credentials) bool
	// Chained reports whether credentials come from a chained session.
	Chained func(Credentials) bool
	// Now is the stand-in's clock (nil: time.Now).
	Now func() time.Time

	mu      sync.Mutex
	tokens  map[string]*issued
	signIns []SignIn
	refused []string
}

type issued struct {
	SignIn
	at time.Time
}

// New starts a stand-in; it stops with the test.
func New(t interface{ Cleanup(func()) }) *Server {
	s := &Server{tokens: map[string]*issued{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// URL is the endpoint's address.
func (s *Server) Endpoint() string { return s.URL + "/federation" }

// SignIns returns the logins accepted so far.
func (s *Server) SignIns() []SignIn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SignIn(nil), s.signIns...)
}

// Refused returns why requests were refused so far.
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) refuse(w http.ResponseWriter, status int, why string) {
	s.mu.Lock()
	s.refused = append(s.refused, why)
	s.mu.Unlock()
	http.Error(w, why, status)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/federation" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	switch q.Get("Action") {
	case "getSigninToken":
		var sess struct{ SessionID, SessionKey, SessionToken string }
		if err := json.Unmarshal([]byte(q.Get("Session")), &sess); err != nil || sess.SessionID == "" || sess.SessionKey == "" || sess.SessionToken == "" {
			s.refuse(w, http.StatusBadRequest, "Session is not a JSON of sessionId, sessionKey, sessionToken")
			return
		}
		c := Credentials{ID: sess.SessionID, Key: sess.SessionKey, Token: sess.SessionToken}
		var dur time.Duration
		if d := q.Get("SessionDuration"); d != "" {
			n, err := strconv.Atoi(d)
			if err != nil || n < 900 || n > 43200 {
				s.refuse(w, http.StatusBadRequest, "SessionDuration out of 900-43200")
				return
			}
			if s.Chained != nil && s.Chained(c) {
				s.refuse(w, http.StatusBadRequest, "SessionDuration given for role-chained credentials")
				return
			}
			dur = time.Duration(n) * time.Second
		}
		if s.Valid != nil && !s.Valid(c) {
			s.refuse(w, http.StatusBadRequest, "invalid credentials")
			return
		}
		b := make([]byte, 24)
		rand.Read(b)
		tok := hex.EncodeToString(b)
		s.mu.Lock()
		s.tokens[tok] = &issued{SignIn: SignIn{Credentials: c, Duration: dur}, at: s.now()}
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"SigninToken": tok})
	case "login":
		s.mu.Lock()
		is := s.tokens[q.Get("SigninToken")]
		delete(s.tokens, q.Get("SigninToken"))
		s.mu.Unlock()
		if is == nil || s.now().Sub(is.at) > 15*time.Minute {
			s.refuse(w, http.StatusBadRequest, "unknown, used or expired SigninToken")
			return
		}
		dest, err := url.Parse(q.Get("Destination"))
		if err != nil || dest.Scheme != "https" {
			s.refuse(w, http.StatusBadRequest, "Destination is not an https URL")
			return
		}
		is.Destination, is.Issuer = dest.String(), q.Get("Issuer")
		s.mu.Lock()
		s.signIns = append(s.signIns, is.SignIn)
		s.mu.Unlock()
		http.Redirect(w, r, dest.String(), http.StatusFound)
	default:
		s.refuse(w, http.StatusBadRequest, "unknown Action")
	}
}

// SignIn follows a login URL of this endpoint as a browser would and
// returns where the endpoint sends it (the Destination), or why it refused.
func (s *Server) SignIn(ctx context.Context, loginURL string) (string, error) {
	if !strings.HasPrefix(loginURL, s.Endpoint()+"?") {
		return "", fmt.Errorf("%q is not a login URL of this endpoint", loginURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loginURL, nil)
	if err != nil {
		return "", err
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
		return "", fmt.Errorf("the login answered %s: %s", res.Status, strings.TrimSpace(string(b)))
	}
	return res.Header.Get("Location"), nil
}
