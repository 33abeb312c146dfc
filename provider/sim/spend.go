package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/spend/cloudtrail"
)

// SpendFeed is the simulated AWS's queue of the lessee's CloudTrail events
// (sim.spend_per_hour): in each leased account of a pool that spends, one
// simulated instance runs from the lease's start, launched by the lessee
// (a RunInstances event) and terminated at its end. The events take the
// same path as on AWS (spend/cloudtrail reads them), and are taken in at
// least once: a message not deleted within Visibility comes again, and a
// restarted feed makes each lease's launch again under the same event id.
type SpendFeed struct {
	// Visibility is how long a received message stays hidden (default 30s).
	Visibility time.Duration
	// Clock times it (default the system clock).
	Clock ovm.Clock

	mu       sync.Mutex
	perHour  map[string]float64 // by pool
	queue    []cloudtrail.Message
	inflight map[string]inflight
	started  map[string]*ovm.Lease
	seq      int
}

type inflight struct {
	msg   cloudtrail.Message
	until time.Time
}

// SimInstanceType is the instance type a pool's simulated instance runs
// as; cmd/ovm prices it at the pool's spend_per_hour.
func SimInstanceType(pool string) string { return "sim." + pool }

// SpendRegion is where the simulated instances run.
const SpendRegion = "us-east-1"

// LesseeRole is the role the simulated lessee's calls are made through.
const LesseeRole = "OrganizationAccountAccessRole"

// Spend makes pool's leased accounts spend usdPerHour.
func (f *SpendFeed) Spend(pool string, usdPerHour float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.perHour == nil {
		f.perHour = map[string]float64{}
	}
	f.perHour[pool] = usdPerHour
}

func (f *SpendFeed) now() time.Time {
	if f.Clock == nil {
		return time.Now()
	}
	return f.Clock.Now()
}

func instanceID(lease string) string {
	h := sha256.Sum256([]byte(lease))
	return "i-" + hex.EncodeToString(h[:8])
}

// Simulate implements ovm.SpendSimulator.
func (f *SpendFeed) Simulate(_ context.Context, active []*ovm.Lease) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started == nil {
		f.started = map[string]*ovm.Lease{}
	}
	now := f.now()
	seen := map[string]bool{}
	for _, l := range active {
		seen[l.ID] = true
		if f.perHour[l.Pool] <= 0 || f.started[l.ID] != nil {
			continue
		}
		f.started[l.ID] = l
		item := map[string]any{"instanceId": instanceID(l.ID), "instanceType": SimInstanceType(l.Pool)}
		f.push(cloudtrail.Build(cloudtrail.Spec{ID: "sim-run-" + l.ID, Account: l.AWSAccountID, Region: SpendRegion,
			At: l.CreatedAt, Name: "RunInstances", Service: "ec2", Role: LesseeRole, SourceIdentity: l.Owner,
			Request:  map[string]any{"instanceType": SimInstanceType(l.Pool)},
			Response: map[string]any{"instancesSet": map[string]any{"items": []any{item}}}}))
	}
	for id, l := range f.started {
		if seen[id] {
			continue
		}
		delete(f.started, id)
		item := map[string]any{"instanceId": instanceID(id)}
		f.push(cloudtrail.Build(cloudtrail.Spec{ID: "sim-term-" + id, Account: l.AWSAccountID, Region: SpendRegion,
			At: now, Name: "TerminateInstances", Service: "ec2", Role: LesseeRole, SourceIdentity: l.Owner,
			Response: map[string]any{"instancesSet": map[string]any{"items": []any{item}}}}))
	}
	return nil
}

func (f *SpendFeed) push(body []byte) {
	f.seq++
	f.queue = append(f.queue, cloudtrail.Message{Handle: "h-" + strconv.Itoa(f.seq), Body: body})
}

// Receive implements cloudtrail.Queue: up to 10 messages, hidden for
// Visibility.
func (f *SpendFeed) Receive(context.Context) ([]cloudtrail.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	vis := f.Visibility
	if vis == 0 {
		vis = 30 * time.Second
	}
	for h, m := range f.inflight { // not deleted in time: visible again
		if now.After(m.until) {
			f.queue = append(f.queue, m.msg)
			delete(f.inflight, h)
		}
	}
	n := min(len(f.queue), 10)
	out := append([]cloudtrail.Message(nil), f.queue[:n]...)
	f.queue = f.queue[n:]
	if f.inflight == nil {
		f.inflight = map[string]inflight{}
	}
	for _, m := range out {
		f.inflight[m.Handle] = inflight{msg: m, until: now.Add(vis)}
	}
	return out, nil
}

// Delete implements cloudtrail.Queue.
func (f *SpendFeed) Delete(_ context.Context, handles []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range handles {
		if _, ok := f.inflight[h]; !ok {
			return fmt.Errorf("sim: no message in flight with handle %s", h)
		}
		delete(f.inflight, h)
	}
	return nil
}

// Waiting is how many messages are queued or in flight.
func (f *SpendFeed) Waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue) + len(f.inflight)
}
