package mototest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queue is an SQS queue of the server, for tests that check what a
// service delivered to it (an SNS subscription, an EventBridge target).
type Queue struct {
	URL, ARN string
	api      *sqs.Client
	t        testing.TB
}

// Queue creates queue name on the server.
func (s *Server) Queue(t testing.TB, name string) *Queue {
	t.Helper()
	ctx := context.Background()
	api := sqs.NewFromConfig(s.Config())
	q, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return &Queue{URL: aws.ToString(q.QueueUrl), ARN: attrs.Attributes[string(types.QueueAttributeNameQueueArn)], api: api, t: t}
}

// Receive takes the messages waiting in the queue (up to ten) and returns
// their bodies; each is deleted, so it is returned once.
func (q *Queue) Receive() []string {
	q.t.Helper()
	ctx := context.Background()
	out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 10})
	if err != nil {
		q.t.Fatal(err)
	}
	var bodies []string
	for _, m := range out.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
		if _, err := q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.URL), ReceiptHandle: m.ReceiptHandle}); err != nil {
			q.t.Fatal(err)
		}
	}
	return bodies
}
