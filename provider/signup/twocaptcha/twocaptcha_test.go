package twocaptcha_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm/provider/signup"
	"github.com/ovmdev/ovm/provider/signup/twocaptcha"
)

// service stands in for a paid 2captcha-compatible service, which cannot
// run here: it speaks the documented protocol (form posts to in.php and
// res.php, json=1 answers, CAPCHA_NOT_READY until a worker answers, error
// codes as text) and its "workers" answer with solve after a few polls.
type service struct {
	key   string
	solve func(method string, data []byte) string
	mu    sync.Mutex
	tasks map[string]*task
	posts []string // every form, to check what was sent
}

type task struct {
	answer string
	polls  int
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts = append(s.posts, r.URL.Path+"?"+r.PostForm.Encode())
	reply := func(status int, request string) {
		json.NewEncoder(w).Encode(map[string]any{"status": status, "request": request})
	}
	if r.Method != "POST" || r.PostForm.Get("json") != "1" {
		reply(0, "ERROR_WRONG_REQUEST")
		return
	}
	if r.PostForm.Get("key") != s.key {
		reply(0, "ERROR_WRONG_USER_KEY")
		return
	}
	switch r.URL.Path {
	case "/in.php":
		data, err := base64.StdEncoding.DecodeString(r.PostForm.Get("body"))
		m := r.PostForm.Get("method")
		if err != nil || (m != "base64" && m != "audio") {
			reply(0, "ERROR_WRONG_FILE_EXTENSION")
			return
		}
		id := fmt.Sprint(len(s.tasks) + 1000)
		s.tasks[id] = &task{answer: s.solve(m, data)}
		reply(1, id)
	case "/res.php":
		t := s.tasks[r.PostForm.Get("id")]
		switch {
		case r.PostForm.Get("action") != "get" || t == nil:
			reply(0, "ERROR_WRONG_CAPTCHA_ID")
		case t.polls < 2:
			t.polls++
			reply(0, "CAPCHA_NOT_READY")
		case t.answer == "":
			reply(0, "ERROR_CAPTCHA_UNSOLVABLE")
		default:
			reply(1, t.answer)
		}
	default:
		http.NotFound(w, r)
	}
}

func newService(t *testing.T, solve func(string, []byte) string) (*service, *httptest.Server) {
	s := &service{key: "k3y-0f-the-acc0unt", solve: solve, tasks: map[string]*task{}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func TestImagesAndAudioAreSolvedThroughTheServiceProtocol(t *testing.T) {
	svc, srv := newService(t, func(method string, data []byte) string {
		return method + ":" + string(data) // the worker "reads" the file
	})
	s := &twocaptcha.Solver{URL: srv.URL, Key: svc.key, Poll: time.Millisecond}
	got, err := s.Solve(context.Background(), signup.Captcha{Kind: "image", Data: []byte("PNG-7A3K"), Ext: ".png"})
	if err != nil || got != "base64:PNG-7A3K" {
		t.Fatalf("image: %q, %v", got, err)
	}
	got, err = s.Solve(context.Background(), signup.Captcha{Kind: "audio", Data: []byte("MP3-4729"), Ext: ".mp3"})
	if err != nil || got != "audio:MP3-4729" {
		t.Fatalf("audio: %q, %v", got, err)
	}
	// Each captcha: one submission, three polls (two "not ready").
	if len(svc.posts) != 8 || !strings.Contains(svc.posts[4], "lang=en") {
		t.Fatalf("posts: %v", svc.posts)
	}
	if s.Name() != "2captcha:"+strings.TrimPrefix(srv.URL, "http://") {
		t.Fatalf("name %q", s.Name())
	}
}

func TestServiceErrorsAreClearAndNeverShowTheKey(t *testing.T) {
	svc, srv := newService(t, func(string, []byte) string { return "" })
	ctx := context.Background()
	// Wrong key: the service's code, not the key.
	bad := &twocaptcha.Solver{URL: srv.URL, Key: "wr0ng-s3cret", Poll: time.Millisecond}
	_, err := bad.Solve(ctx, signup.Captcha{Kind: "image", Data: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "ERROR_WRONG_USER_KEY") || strings.Contains(err.Error(), "wr0ng-s3cret") {
		t.Fatalf("wrong key: %v", err)
	}
	// Unsolvable.
	s := &twocaptcha.Solver{URL: srv.URL, Key: svc.key, Poll: time.Millisecond}
	if _, err := s.Solve(ctx, signup.Captcha{Kind: "image", Data: []byte("x")}); err == nil || !strings.Contains(err.Error(), "ERROR_CAPTCHA_UNSOLVABLE") {
		t.Fatalf("unsolvable: %v", err)
	}
	// Unreachable service: the transport error without the form.
	srv.Close()
	_, err = s.Solve(ctx, signup.Captcha{Kind: "image", Data: []byte("x")})
	if err == nil || strings.Contains(err.Error(), svc.key) || !strings.Contains(err.Error(), "in.php") {
		t.Fatalf("unreachable: %v", err)
	}
	// A kind the service does not take.
	if _, err := s.Solve(ctx, signup.Captcha{Kind: "puzzle"}); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("puzzle: %v", err)
	}
}

func TestAServiceThatNeverAnswersTimesOut(t *testing.T) {
	svc, srv := newService(t, func(string, []byte) string { return "late" })
	s := &twocaptcha.Solver{URL: srv.URL, Key: svc.key, Poll: 50 * time.Millisecond, Timeout: 80 * time.Millisecond}
	_, err := s.Solve(context.Background(), signup.Captcha{Kind: "image", Data: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("timeout: %v", err)
	}
}
