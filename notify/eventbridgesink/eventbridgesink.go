// Package eventbridgesink puts OVM's notifications on an Amazon
// EventBridge bus (aws-sdk-go-v2): one event per notification, its
// detail-type the notification's type (lease.created, ...), its detail the
// notification's JSON, its source "ovm" unless configured.
package eventbridgesink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/ovmdev/ovm"
)

// API is the part of EventBridge the sink uses.
type API interface {
	PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Config is one EventBridge subscription's sink.
type Config struct {
	// Bus is the event bus's name or ARN (default "default").
	Bus string
	// Source is the events' source (default "ovm").
	Source string
}

// Sink puts events on one bus.
type Sink struct {
	api API
	cfg Config
}

var _ ovm.Sink = (*Sink)(nil)

// New returns the sink of cfg over api.
func New(api API, cfg Config) (*Sink, error) {
	if cfg.Bus == "" {
		cfg.Bus = "default"
	}
	if cfg.Source == "" {
		cfg.Source = "ovm"
	}
	return &Sink{api: api, cfg: cfg}, nil
}

// Send implements ovm.Sink. An entry the bus refuses is an error.
func (s *Sink) Send(ctx context.Context, n *ovm.Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("eventbridgesink: encode: %w", err)
	}
	out, err := s.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		EventBusName: aws.String(s.cfg.Bus), Source: aws.String(s.cfg.Source), DetailType: aws.String(string(n.Type)),
		Detail: aws.String(string(body)), Time: aws.Time(n.Time)}}})
	if err != nil {
		return fmt.Errorf("put event on bus %s: %w", s.cfg.Bus, err)
	}
	if out.FailedEntryCount > 0 {
		msg := "refused"
		if len(out.Entries) > 0 && out.Entries[0].ErrorCode != nil {
			msg = aws.ToString(out.Entries[0].ErrorCode) + ": " + aws.ToString(out.Entries[0].ErrorMessage)
		}
		return errors.New("put event on bus " + s.cfg.Bus + ": " + msg)
	}
	return nil
}
