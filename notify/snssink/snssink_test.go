package snssink_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/notify/snssink"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// The topic's subscriber is an SQS queue: what arrives there is what SNS
// delivered.
func TestTheNotificationIsPublishedToTheTopic(t *testing.T) {
	ctx := context.Background()
	moto := mototest.Require(t)
	topics := sns.NewFromConfig(moto.Config())
	topic, err := topics.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ovm-events")})
	if err != nil {
		t.Fatal(err)
	}
	q := moto.Queue(t, "ops")
	if _, err := topics.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(q.ARN)}); err != nil {
		t.Fatal(err)
	}
	sink, err := snssink.New(topics, snssink.Config{TopicARN: aws.ToString(topic.TopicArn)})
	if err != nil {
		t.Fatal(err)
	}
	n := &ovm.Notification{ID: "evt_1", Type: ovm.NotifyPoolEmpty, Time: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), Pool: "default"}
	if err := sink.Send(ctx, n); err != nil {
		t.Fatal(err)
	}
	msgs := q.Receive()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	var envelope struct {
		Message, Subject  string
		MessageAttributes map[string]struct{ Value string }
	}
	if err := json.Unmarshal([]byte(msgs[0]), &envelope); err != nil {
		t.Fatal(err)
	}
	var got ovm.Notification
	if err := json.Unmarshal([]byte(envelope.Message), &got); err != nil || got.ID != "evt_1" || got.Type != ovm.NotifyPoolEmpty || got.Pool != "default" {
		t.Fatalf("message %q: %v", envelope.Message, err)
	}
	if envelope.Subject != "ovm pool.empty" || envelope.MessageAttributes["type"].Value != "pool.empty" || envelope.MessageAttributes["id"].Value != "evt_1" {
		t.Fatalf("envelope %+v", envelope)
	}
}

func TestAMissingTopicIsAnError(t *testing.T) {
	cfg := mototest.Require(t).Config()
	sink, err := snssink.New(sns.NewFromConfig(cfg), snssink.Config{TopicARN: "arn:aws:sns:us-east-1:123456789012:nope"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(context.Background(), &ovm.Notification{ID: "evt_1", Type: ovm.NotifyPoolLow}); err == nil {
		t.Fatal("publishing to a missing topic succeeded")
	}
	if _, err := snssink.New(nil, snssink.Config{TopicARN: "ops"}); err == nil {
		t.Fatal("a topic that is no ARN was accepted")
	}
}
