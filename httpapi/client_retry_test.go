package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/httpapi"
)

// loseFirstAnswer serves every request with next, but the first vend's
// answer is lost: the server made the lease, then the connection dropped
// (a replica killed mid-request, a reset).
type loseFirstAnswer struct {
	next http.Handler
	mu   sync.Mutex
	keys []string
}

func (h *loseFirstAnswer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.keys = append(h.keys, r.Header.Get("Idempotency-Key"))
	first := len(h.keys) == 1
	h.mu.Unlock()
	if !first {
		h.next.ServeHTTP(w, r)
		return
	}
	h.next.ServeHTTP(httptest.NewRecorder(), r) // made, answer dropped
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// The client sends a vend with an Idempotency-Key and, when the answer is
// lost, sends it again with the same key: one lease, one account.
func TestTheClientRetriesALostVendWithItsKey(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	before, _ := f.store.PoolCounts(context.Background(), "default")
	for _, vend := range []func(c *client.Client) (string, error){
		func(c *client.Client) (string, error) {
			l, err := c.LeaseCreate(context.Background(), &client.LeaseRequest{})
			return l.AccountID, err
		},
		func(c *client.Client) (string, error) {
			v, err := c.Vend(context.Background())
			return v.AccountID, err
		},
	} {
		lose := &loseFirstAnswer{next: f.srv.Config.Handler}
		ts := httptest.NewServer(lose)
		c := &client.Client{BaseURL: ts.URL, Token: f.user}
		acct, err := vend(c)
		ts.Close()
		if err != nil || acct == "" {
			t.Fatalf("vend through a lost answer: %q %v", acct, err)
		}
		if len(lose.keys) != 2 || lose.keys[0] == "" || lose.keys[0] != lose.keys[1] {
			t.Fatalf("keys sent: %q, want the same key twice", lose.keys)
		}
	}
	after, _ := f.store.PoolCounts(context.Background(), "default")
	if got, want := after.ByState[ovm.AccountReady], before.ByState[ovm.AccountReady]-2; got != want {
		t.Fatalf("%d ready after two vends whose answers were lost once each, want %d", got, want)
	}
}
