package sqsqueue_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/spend/cloudtrail"
	"github.com/ovmdev/ovm/spend/prices"
	"github.com/ovmdev/ovm/spend/sqsqueue"
)

// CloudTrail-shaped events put on the EventBridge bus reach the queue
// through the rule, and the source reads them into priced changes; a
// message not deleted comes again after the visibility timeout.
func TestEventsOnTheBusReachTheSourceThroughTheQueue(t *testing.T) {
	srv := mototest.Require(t)
	ctx := context.Background()
	q := srv.Queue(t, "ovm-spend")
	api := sqs.NewFromConfig(srv.Config())
	if _, err := api.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(q.URL),
		Attributes: map[string]string{"VisibilityTimeout": "1"}}); err != nil {
		t.Fatal(err)
	}
	eb := eventbridge.NewFromConfig(srv.Config())
	pattern, _ := json.Marshal(map[string]any{"detail-type": []string{cloudtrail.DetailType}, "source": cloudtrail.Sources})
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("ovm-spend"), EventPattern: aws.String(string(pattern))}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("ovm-spend"),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(q.ARN)}}}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	put := func(s cloudtrail.Spec) {
		var env struct {
			Detail json.RawMessage `json:"detail"`
		}
		json.Unmarshal(cloudtrail.Build(s), &env)
		out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String("aws." + s.Service), DetailType: aws.String(cloudtrail.DetailType), Detail: aws.String(string(env.Detail))}}})
		if err != nil || out.FailedEntryCount != 0 {
			t.Fatalf("put %s: %v %+v", s.Name, err, out)
		}
	}
	const account = "123456789012" // moto's
	put(cloudtrail.Spec{ID: "ev-run", Account: account, Region: "us-east-1", At: at, Name: "RunInstances", Service: "ec2", Role: "dev",
		Response: map[string]any{"instancesSet": map[string]any{"items": []any{map[string]any{"instanceId": "i-1", "instanceType": "m5.large"}}}}})
	put(cloudtrail.Spec{ID: "ev-nat", Account: account, Region: "us-east-1", At: at, Name: "CreateNatGateway", Service: "ec2", Role: "dev",
		Response: map[string]any{"CreateNatGatewayResponse": map[string]any{"natGateway": map[string]any{"natGatewayId": "nat-1"}}}})
	put(cloudtrail.Spec{ID: "ev-s3", Account: account, Region: "us-east-1", At: at, Name: "CreateBucket", Service: "s3", Role: "dev"})

	src := &cloudtrail.Source{Queue: sqsqueue.New(api, q.URL), Parser: &cloudtrail.Parser{Prices: prices.Default()}}
	got := map[string]*ovm.SpendMessage{}
	deadline := time.Now().Add(15 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		msgs, err := src.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Err != nil {
				t.Fatalf("message unreadable: %v", m.Err)
			}
			got[m.EventID] = m
		}
	}
	run, nat := got["ev-run"], got["ev-nat"]
	if run == nil || nat == nil || len(got) != 2 {
		t.Fatalf("received %v; want the launch and the NAT gateway, not the bucket (the rule's pattern)", got)
	}
	if c := run.Changes; len(c) != 1 || c[0].ID != "i-1" || c[0].USDPerHour != 0.096 || run.AWSAccountID != account {
		t.Fatalf("launch read as %+v", c[0])
	}
	if c := nat.Changes; len(c) != 1 || c[0].Type != "nat.gateway" || c[0].USDPerHour != 0.045 {
		t.Fatalf("NAT gateway read as %+v", c[0])
	}
	// Not acknowledged: both come again after the visibility timeout.
	time.Sleep(1500 * time.Millisecond)
	again := map[string]string{}
	for end := time.Now().Add(10 * time.Second); len(again) < 2 && time.Now().Before(end); {
		msgs, err := src.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			again[m.EventID] = m.Handle
		}
	}
	if len(again) != 2 {
		t.Fatalf("redelivered %v, want both unacknowledged events", again)
	}
	if err := src.Ack(ctx, []string{again["ev-run"], again["ev-nat"]}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if msgs, err := src.Receive(ctx); err != nil || len(msgs) != 0 {
		t.Fatalf("after the acknowledgement: %d messages (%v)", len(msgs), err)
	}
}
