package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm/client"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A vend whose answer a gateway lost (502) is sent again with the same
// Idempotency-Key, and the second answer is the lease.
func TestALostVendIsSentAgainWithTheSameKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get(client.IdempotencyKeyHeader))
		n := len(keys)
		mu.Unlock()
		if n == 1 {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id": "l-1", "account_id": "123456789012"}`)
	}))
	defer ts.Close()
	l, err := (&client.Client{BaseURL: ts.URL}).LeaseCreate(context.Background(), &client.LeaseRequest{Pool: "default"})
	if err != nil || l.ID != "l-1" {
		t.Fatalf("lease %+v, %v", l, err)
	}
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("keys sent %q, want one key twice", keys)
	}
}

// A request without an idempotency key (a read) is sent once, whatever
// the answer.
func TestARequestWithoutAKeyIsSentOnce(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		if r.Header.Get(client.IdempotencyKeyHeader) != "" {
			t.Errorf("%s %s carries an Idempotency-Key", r.Method, r.URL.Path)
		}
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	defer ts.Close()
	if _, err := (&client.Client{BaseURL: ts.URL}).LeaseGet(context.Background(), "l-1"); err == nil {
		t.Fatal("a 502 is no error")
	}
	if calls != 1 {
		t.Fatalf("%d calls, want 1", calls)
	}
}

// An error answer is an *APIError with the body's code and message and
// the Retry-After header; an answer that is not OVM's error JSON keeps its
// text under the code "http".
func TestAnErrorAnswerIsAnAPIError(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		if r.URL.Path == "/v1/pools/default" {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error": {"code": "unavailable", "message": "the stock is empty"}}`)
			return
		}
		http.Error(w, "no such thing", http.StatusNotFound)
	}))
	defer ts.Close()
	c := &client.Client{BaseURL: ts.URL + "/", Token: "k"}
	for _, tc := range []struct {
		name string
		call func() error
		want client.APIError
	}{
		{"OVM's error", func() error { _, err := c.PoolGet(context.Background(), "default"); return err },
			client.APIError{Status: 503, Code: "unavailable", Message: "the stock is empty", RetryAfter: 7 * time.Second}},
		{"another body", func() error { _, err := c.KeyList(context.Background(), nil); return err },
			client.APIError{Status: 404, Code: "http", Message: "no such thing"}},
	} {
		var ae *client.APIError
		if err := tc.call(); !errors.As(err, &ae) || *ae != tc.want {
			t.Errorf("%s: %v, want %+v", tc.name, err, tc.want)
		}
	}
}

// Lease an account for two hours, then release it.
func Example() {
	c := &client.Client{BaseURL: "http://127.0.0.1:8080", Token: os.Getenv("OVM_TOKEN")}
	ttl := client.Duration(2 * time.Hour)
	l, err := c.LeaseCreate(context.Background(), &client.LeaseRequest{Pool: "default", TTL: &ttl})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(l.AccountID, l.CrossAccountRole, l.ExpiresAt)
	if _, err := c.LeaseRelease(context.Background(), l.ID); err != nil {
		fmt.Println(err)
	}
}
