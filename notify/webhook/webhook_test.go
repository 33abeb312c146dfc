package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/notify/webhook"
)

var secret = []byte("s3cret-webhook-key")

func quarantined() *ovm.Notification {
	return &ovm.Notification{ID: "evt_06h0sj5nj1pq5x6t526nb22kv4", Type: ovm.NotifyAccountQuarantined,
		Time: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), Pool: "default", AccountID: "acc_1", LastError: "INVALID_EMAIL"}
}

// receiver records each request and answers status.
type receiver struct {
	status int
	bodies [][]byte
	heads  []http.Header
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.bodies, r.heads = append(r.bodies, b), append(r.heads, req.Header.Clone())
	w.WriteHeader(r.status)
	io.WriteString(w, "temporarily\n down")
}

func newSink(t *testing.T, url string, mods ...func(*webhook.Config)) *webhook.Sink {
	t.Helper()
	cfg := webhook.Config{URL: url, Secret: secret}
	for _, m := range mods {
		m(&cfg)
	}
	s, err := webhook.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTheReceiverGetsTheNotificationSignedWithHMACSHA256(t *testing.T) {
	rec := &receiver{status: http.StatusNoContent}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := quarantined()
	if err := newSink(t, srv.URL+"/hooks/ovm").Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if len(rec.bodies) != 1 {
		t.Fatalf("%d requests", len(rec.bodies))
	}
	body, h := rec.bodies[0], rec.heads[0]
	// Verified here as a receiver would, without the package's helper.
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); h.Get("X-OVM-Signature") != want {
		t.Fatalf("signature %q, want %q", h.Get("X-OVM-Signature"), want)
	}
	if !webhook.Verify(secret, body, h.Get("X-OVM-Signature")) {
		t.Fatal("Verify refuses a good signature")
	}
	if webhook.Verify([]byte("another key"), body, h.Get("X-OVM-Signature")) ||
		webhook.Verify(secret, append(body, ' '), h.Get("X-OVM-Signature")) {
		t.Fatal("Verify accepts another key or a changed body")
	}
	var got ovm.Notification
	if err := json.Unmarshal(body, &got); err != nil || got.ID != n.ID || got.Type != n.Type || got.LastError != "INVALID_EMAIL" {
		t.Fatalf("body %s: %v", body, err)
	}
	if h.Get("X-OVM-Event-Id") != n.ID || h.Get("X-OVM-Event-Type") != "account.quarantined" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
}

func TestTheSignatureHeaderIsConfigurable(t *testing.T) {
	rec := &receiver{status: http.StatusOK}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	s := newSink(t, srv.URL, func(c *webhook.Config) { c.SignatureHeader = "X-Hub-Signature-256" })
	if err := s.Send(context.Background(), quarantined()); err != nil {
		t.Fatal(err)
	}
	if !webhook.Verify(secret, rec.bodies[0], rec.heads[0].Get("X-Hub-Signature-256")) || rec.heads[0].Get("X-OVM-Signature") != "" {
		t.Fatalf("headers %v", rec.heads[0])
	}
}

func TestRefusalsAreErrorsThatNeverShowTheURL(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized, http.StatusFound} {
		rec := &receiver{status: status}
		srv := httptest.NewServer(rec)
		err := newSink(t, srv.URL+"/hooks/T0KEN").Send(context.Background(), quarantined())
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), http.StatusText(status)) || strings.Contains(err.Error(), "T0KEN") {
			t.Fatalf("status %d: %v", status, err)
		}
	}
	srv := httptest.NewServer(&receiver{status: 200})
	srv.Close() // nobody listens
	err := newSink(t, srv.URL+"/hooks/T0KEN").Send(context.Background(), quarantined())
	if err == nil || strings.Contains(err.Error(), "T0KEN") {
		t.Fatalf("a closed port: %v", err)
	}
}

func TestASlowReceiverTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	err := newSink(t, srv.URL, func(c *webhook.Config) { c.Timeout = 50 * time.Millisecond }).Send(context.Background(), quarantined())
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v", err)
	}
}

func TestAConfigWithoutSecretOrWithABadURLIsRefused(t *testing.T) {
	for _, cfg := range []webhook.Config{{URL: "http://x/", Secret: nil}, {URL: "ftp://x/", Secret: secret}, {URL: "/relative", Secret: secret}} {
		if _, err := webhook.New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
