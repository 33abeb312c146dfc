package awsorgs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/cleaner/awsnuke"
)

var _ ovm.ProgressReporter = (*Provider)(nil)

// livePasses is the provider's nuker with the cleaning passes under way in this
// process, by OVM account id (SetNuker wraps the nuker in it). They are
// kept in memory only: the engine's runner records the step when Clean
// returns, so Clean must not write the account meanwhile.
type livePasses struct {
	Nuker
	mu      sync.Mutex
	running map[string]*livePass
}

// livePass is one cleaning pass under way.
type livePass struct {
	number    int
	started   time.Time
	progress  awsnuke.Progress
	lastEvent time.Time
}

// phasePreparing: the pass assumes the creation role and resets the vended
// role, before aws-nuke runs.
const phasePreparing = "preparing"

// begin records that pass number of account id starts at now; end forgets it.
func (ps *livePasses) begin(id string, number int, now time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.running[id] = &livePass{number: number, started: now, progress: awsnuke.Progress{Phase: phasePreparing}, lastEvent: now}
}

func (ps *livePasses) end(id string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.running, id)
}

// update records how the pass of account id is going, and reports whether a
// progress event is due: every is the least time between two events of one
// pass (the start event counts).
func (ps *livePasses) update(id string, pr awsnuke.Progress, now time.Time, every time.Duration) (*livePass, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	r := ps.running[id]
	if r == nil {
		return nil, false
	}
	r.progress = pr
	if now.Sub(r.lastEvent) < every {
		return nil, false
	}
	r.lastEvent = now
	copied := *r
	return &copied, true
}

// LiveProgress implements ovm.ProgressReporter: the cleaning pass under way
// for the account in this process (pass number, phase, start, elapsed time,
// resources found so far, waiting for deletion, removed and failed, resource
// types that failed to list), or nil.
func (p *Provider) LiveProgress(accountID string) map[string]string {
	ps, ok := p.nuker.(*livePasses)
	if !ok {
		return nil
	}
	ps.mu.Lock()
	r := ps.running[accountID]
	var copied livePass
	if r != nil {
		copied = *r
	}
	ps.mu.Unlock()
	if r == nil {
		return nil
	}
	pr := copied.progress
	return map[string]string{
		"step":        "clean",
		"pass":        strconv.Itoa(copied.number),
		"phase":       string(pr.Phase),
		"started_at":  copied.started.UTC().Format(time.RFC3339),
		"elapsed":     p.clock.Now().Sub(copied.started).Round(time.Second).String(),
		"found":       strconv.Itoa(pr.Found),
		"waiting":     strconv.Itoa(pr.Waiting),
		"removed":     strconv.Itoa(pr.Removed),
		"failed":      strconv.Itoa(pr.Failed),
		"list_errors": strconv.Itoa(pr.ListErrors),
	}
}

// eventLog is where a pass's events go: the store, which the binary passes
// to New as the close ledger.
type eventLog interface {
	EventAppend(ctx context.Context, e *ovm.Event) error
}

// event appends reason to a's event log, if the ledger is one. Events are
// append-only and never conflict with the runner's write of the step; one
// that cannot be written is logged and the pass goes on.
func (p *Provider) event(ctx context.Context, a *ovm.Account, reason string) {
	log, ok := p.ledger.(eventLog)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e := &ovm.Event{Time: p.clock.Now(), Kind: ovm.EventAccount, AccountID: a.ID, Pool: a.Pool, Actor: ovm.ActorEngine,
		From: string(a.State), To: string(a.State), Reason: reason}
	if err := log.EventAppend(ctx, e); err != nil {
		p.log.Warn("cleaning event not recorded", ovm.LogAccountID, a.ID, ovm.LogError, err)
	}
}

// startedReason is the event of a pass that starts: what aws-nuke will
// look at, and for how long at most.
func startedReason(number int, params awsnuke.Params, timeout time.Duration) string {
	types := "every resource type aws-nuke knows"
	if n := len(params.Include); n > 0 && n <= 12 {
		types = fmt.Sprintf("%d resource types (%s)", n, strings.Join(params.Include, ", "))
	} else if n > 12 {
		types = fmt.Sprintf("%d resource types", n)
	}
	if len(params.Exclude) > 0 {
		types += " except " + strings.Join(params.Exclude, ", ")
	}
	regions := params.Regions
	if params.Endpoint != "" {
		regions = []string{params.EndpointRegion + " at " + params.Endpoint}
	}
	return fmt.Sprintf("cleaning pass %d started: aws-nuke in %s, %s, for at most %s", number,
		strings.Join(regions, ", "), types, timeout)
}

// progressReason is the event of a pass under way.
func progressReason(r *livePass, now time.Time) string {
	pr := r.progress
	s := fmt.Sprintf("cleaning pass %d under way for %s: %s, %d resources found", r.number,
		now.Sub(r.started).Round(time.Second), pr.Phase, pr.Found)
	if pr.Phase == awsnuke.PhaseRemoving || pr.Phase == awsnuke.PhaseDone {
		s += fmt.Sprintf(", %d waiting for deletion, %d removed, %d failed", pr.Waiting, pr.Removed, pr.Failed)
	} else {
		s += " so far"
	}
	if pr.ListErrors > 0 {
		s += ", " + awsnuke.TypesFailedToList(pr.ListErrors)
	}
	return s
}
