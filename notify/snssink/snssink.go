// Package snssink publishes OVM's notifications to an Amazon SNS topic
// (aws-sdk-go-v2): the message is the notification's JSON, the subject
// names its type, and message attributes carry type and id so that
// subscriptions can filter. On a FIFO topic the id is the deduplication id.
package snssink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/ovmdev/ovm"
)

// API is the part of SNS the sink uses.
type API interface {
	Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Config is one SNS subscription's sink.
type Config struct {
	// TopicARN is the topic to publish to (required).
	TopicARN string
}

// Sink publishes to one topic.
type Sink struct {
	api API
	cfg Config
}

var _ ovm.Sink = (*Sink)(nil)

// New checks cfg and returns its sink over api.
func New(api API, cfg Config) (*Sink, error) {
	if !strings.HasPrefix(cfg.TopicARN, "arn:") || !strings.Contains(cfg.TopicARN, ":sns:") {
		return nil, errors.New("snssink: topic_arn must be an SNS topic ARN")
	}
	return &Sink{api: api, cfg: cfg}, nil
}

// Send implements ovm.Sink.
func (s *Sink) Send(ctx context.Context, n *ovm.Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("snssink: encode: %w", err)
	}
	in := &sns.PublishInput{TopicArn: aws.String(s.cfg.TopicARN), Message: aws.String(string(body)),
		Subject: aws.String("ovm " + string(n.Type)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"type": {DataType: aws.String("String"), StringValue: aws.String(string(n.Type))},
			"id":   {DataType: aws.String("String"), StringValue: aws.String(n.ID)},
		}}
	if strings.HasSuffix(s.cfg.TopicARN, ".fifo") {
		in.MessageDeduplicationId, in.MessageGroupId = aws.String(n.ID), aws.String("ovm")
	}
	if _, err := s.api.Publish(ctx, in); err != nil {
		return fmt.Errorf("publish to %s: %w", s.cfg.TopicARN, err)
	}
	return nil
}
