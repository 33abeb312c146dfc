package cloudtrail

import (
	"context"

	"github.com/ovmdev/ovm"
)

// Message is one message of a queue.
type Message struct {
	Handle string
	Body   []byte
}

// Queue is a queue of EventBridge events (spend/sqsqueue on AWS; the
// simulated AWS keeps one in memory).
type Queue interface {
	Receive(ctx context.Context) ([]Message, error)
	Delete(ctx context.Context, handles []string) error
}

// Source is the spend source that reads a Queue's CloudTrail events.
type Source struct {
	Queue  Queue
	Parser *Parser
}

var _ ovm.SpendSource = (*Source)(nil)

// Receive implements ovm.SpendSource.
func (s *Source) Receive(ctx context.Context) ([]*ovm.SpendMessage, error) {
	msgs, err := s.Queue.Receive(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*ovm.SpendMessage, 0, len(msgs))
	for _, m := range msgs {
		ev, err := s.Parser.Parse(m.Body)
		sm := &ovm.SpendMessage{Handle: m.Handle, Err: err}
		if ev != nil {
			sm.EventID, sm.AWSAccountID, sm.At, sm.Changes = ev.ID, ev.AWSAccountID, ev.At, ev.Changes
		}
		out = append(out, sm)
	}
	return out, nil
}

// Ack implements ovm.SpendSource.
func (s *Source) Ack(ctx context.Context, handles []string) error {
	if len(handles) == 0 {
		return nil
	}
	return s.Queue.Delete(ctx, handles)
}

// Simulate implements ovm.SpendSimulator for a queue that makes its own
// events (the simulated AWS's); it does nothing for others.
func (s *Source) Simulate(ctx context.Context, active []*ovm.Lease) error {
	if sim, ok := s.Queue.(ovm.SpendSimulator); ok {
		return sim.Simulate(ctx, active)
	}
	return nil
}
