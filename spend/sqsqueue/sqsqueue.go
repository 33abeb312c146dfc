// Package sqsqueue is the Amazon SQS queue the lessees' CloudTrail events
// reach through EventBridge (docs/spend.md), as a spend/cloudtrail Queue.
// A received message stays invisible for the queue's visibility timeout;
// one not deleted by then is received again, so every event is taken in at
// least once (the ledger counts it once).
package sqsqueue

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/ovmdev/ovm/spend/cloudtrail"
)

// API is the part of SQS the queue uses.
type API interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(context.Context, *sqs.DeleteMessageBatchInput, ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Queue is one SQS queue.
type Queue struct {
	api API
	url string
	// Wait is the long poll of a receive, in seconds (default 1: the
	// spend worker's round is short).
	Wait int32
}

var _ cloudtrail.Queue = (*Queue)(nil)

// New returns the queue at url.
func New(api API, url string) *Queue { return &Queue{api: api, url: url, Wait: 1} }

// Receive implements cloudtrail.Queue: at most 10 messages.
func (q *Queue) Receive(ctx context.Context) ([]cloudtrail.Message, error) {
	out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url), MaxNumberOfMessages: 10, WaitTimeSeconds: q.Wait})
	if err != nil {
		return nil, fmt.Errorf("sqs: receive from %s: %w", q.url, err)
	}
	msgs := make([]cloudtrail.Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, cloudtrail.Message{Handle: aws.ToString(m.ReceiptHandle), Body: []byte(aws.ToString(m.Body))})
	}
	return msgs, nil
}

// Delete implements cloudtrail.Queue, ten at a time.
func (q *Queue) Delete(ctx context.Context, handles []string) error {
	for len(handles) > 0 {
		n := min(len(handles), 10)
		var entries []types.DeleteMessageBatchRequestEntry
		for i, h := range handles[:n] {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h)})
		}
		out, err := q.api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.url), Entries: entries})
		if err != nil {
			return fmt.Errorf("sqs: delete from %s: %w", q.url, err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("sqs: %d of %d deletes failed: %s", len(out.Failed), n, aws.ToString(out.Failed[0].Message))
		}
		handles = handles[n:]
	}
	return nil
}
