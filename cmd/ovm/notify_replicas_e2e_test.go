package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/ovmdev/ovm/internal/mototest"
)

// Two replicas on one DynamoDB table, one SNS subscription: each
// quarantine is published once, by one of them. SNS refuses every publish
// for the first seconds, so the first sends fail and are retried.
func TestTwoReplicasPublishEachNotificationOnce(t *testing.T) {
	const topicARN = "arn:aws:sns:us-east-1:123456789012:ovm-events" // moto's account
	srv := mototest.Require(t)
	ctx := context.Background()
	topics := sns.NewFromConfig(srv.Config())
	if _, err := topics.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ovm-events")}); err != nil {
		t.Fatal(err)
	}
	q := srv.Queue(t, "audit")
	if _, err := topics.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String("sqs"),
		Endpoint: aws.String(q.ARN)}); err != nil {
		t.Fatal(err)
	}
	gate := newPublishGate(t, srv.URL)
	rs := newReplicaSetAt(t, 2, `pools:
  - name: default
    stock: {target: 1, ceiling: 3}
    retry: {max_attempts: 1, base_delay: 100ms, max_delay: 1s}
    sim: {failure_rate: 1}
notifications:
  retry: {max_attempts: 20, base_delay: 200ms, max_delay: 1s}
  subscriptions:
    - name: audit
      events: [account.quarantined]
      sns: {topic_arn: "`+topicARN+`"}
`, gate.URL, srv.Config(), srv)
	for wait := time.Now().Add(30 * time.Second); gate.refused.Load() < 2 && time.Now().Before(wait); {
		time.Sleep(100 * time.Millisecond)
	}
	if gate.refused.Load() < 2 {
		t.Fatal("no publish was refused twice: the retry is not exercised")
	}
	gate.open.Store(true)
	seen := map[string]int{}
	var quarantined int
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for _, body := range q.Receive() {
			var envelope struct{ Message string }
			var n struct{ ID, Type string }
			if json.Unmarshal([]byte(body), &envelope) != nil || json.Unmarshal([]byte(envelope.Message), &n) != nil || n.Type != "account.quarantined" {
				t.Fatalf("message %s", body)
			}
			seen[n.ID]++
		}
		quarantined = 0
		for _, a := range rs.accounts() {
			if a.State == "quarantined" {
				quarantined++
			}
		}
		if quarantined >= 3 && len(seen) >= quarantined {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if quarantined < 3 || len(seen) < quarantined {
		t.Fatalf("%d quarantined accounts, %d notifications", quarantined, len(seen))
	}
	time.Sleep(2 * time.Second) // a second send would come by now
	for _, body := range q.Receive() {
		var envelope struct{ Message string }
		var n struct{ ID string }
		json.Unmarshal([]byte(body), &envelope)
		json.Unmarshal([]byte(envelope.Message), &n)
		seen[n.ID]++
	}
	for id, times := range seen {
		if times != 1 {
			t.Errorf("%s published %d times", id, times)
		}
	}
}

// publishGate is a reverse proxy in front of moto that answers every SNS
// Publish with a 500 until open is set; everything else passes. moto cannot
// be told to fail a call for a while, and creating the topic late (the
// test's first form) let a publish land between CreateTopic and Subscribe,
// where no queue saw it.
type publishGate struct {
	URL     string
	open    atomic.Bool
	refused atomic.Int64
}

func newPublishGate(t *testing.T, target string) *publishGate {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &publishGate{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		publish := bytes.Contains(body, []byte("Action=Publish")) || strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".Publish")
		if publish && !g.open.Load() {
			g.refused.Add(1)
			http.Error(w, "refused by the test's gate", http.StatusInternalServerError)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}
