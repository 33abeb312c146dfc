package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// Two replicas on one DynamoDB table, one SNS subscription: each
// quarantine is published once, by one of them. The topic appears a moment
// after the start, so the first sends fail and are retried.
func TestTwoReplicasPublishEachNotificationOnce(t *testing.T) {
	const topicARN = "arn:aws:sns:us-east-1:123456789012:ovm-events" // moto's account
	rs := newReplicaSet(t, 2, `pools:
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
`)
	ctx := context.Background()
	topics := sns.NewFromConfig(rs.moto.Config())
	if _, err := topics.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ovm-events")}); err != nil {
		t.Fatal(err)
	}
	q := rs.moto.Queue(t, "audit")
	if _, err := topics.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topicARN), Protocol: aws.String("sqs"),
		Endpoint: aws.String(q.ARN)}); err != nil {
		t.Fatal(err)
	}
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
