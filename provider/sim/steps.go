package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"

	"github.com/ovmdev/ovm"
)

// The provider's steps and what the simulated AWS answers to them, and the
// actions that stand in for people acting on AWS behind OVM's back.

// Create implements ovm.Provider.
func (p *Provider) Create(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	unlock, err := p.enter()
	if err != nil {
		return ovm.StepResult{}, err
	}
	defer unlock()
	if r, err := p.begin(OpCreate, a); r != nil || err != nil {
		return deref(r), err
	}
	now := p.clock.Now()
	var sa *Account
	if a.ExternalRef != "" {
		if sa = p.byRef[a.ExternalRef]; sa == nil {
			return ovm.Failed("create request " + a.ExternalRef + " is unknown"), nil
		}
	} else if sa = p.byMail[a.Email]; sa == nil {
		// A new request. The e-mail lookup above is what makes a second
		// start (after a lost response or a crash) find the first one.
		if p.cfg.MaxInFlight > 0 && p.creatingLocked(now) >= p.cfg.MaxInFlight {
			return ovm.StepResult{}, fmt.Errorf("sim: ACCOUNT_CREATION_RATE_LIMIT_EXCEEDED: %d creations in progress", p.cfg.MaxInFlight)
		}
		sa = &Account{ID: p.newAccountIDLocked(), OVMID: a.ID, Pool: a.Pool, Email: a.Email, Name: a.Name, Ref: "car-" + randHex(16),
			State: StateCreating, CreatedAt: now, ActiveAt: now.Add(p.cfg.CreateLatency)}
		p.st.Accounts = append(p.st.Accounts, sa)
		p.index(sa)
	}
	if sa.State == StateCreating && !now.Before(sa.ActiveAt) {
		sa.State = StateActive
	}
	r := ovm.StepResult{Status: ovm.StepPending, ExternalRef: sa.Ref, Wait: wait(sa.ActiveAt.Sub(now)), Reason: "creating"}
	if sa.State != StateCreating {
		r = ovm.StepResult{Status: ovm.StepDone, ExternalRef: sa.Ref, AWSAccountID: sa.ID}
	}
	return p.end(OpCreate, r)
}

func (p *Provider) creatingLocked(now time.Time) int {
	n := 0
	for _, a := range p.st.Accounts {
		if a.State == StateCreating && now.Before(a.ActiveAt) {
			n++
		}
	}
	return n
}

func (p *Provider) newAccountIDLocked() string {
	for {
		n, err := rand.Int(rand.Reader, big.NewInt(9e11))
		if err != nil {
			panic("sim: crypto/rand: " + err.Error())
		}
		id := fmt.Sprintf("%012d", n.Int64()+1e11)
		if p.byID[id] == nil {
			return id
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n/2)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func deref(r *ovm.StepResult) ovm.StepResult {
	if r == nil {
		return ovm.StepResult{}
	}
	return *r
}

// lookup finds the simulated account of a by AWS id, else by e-mail.
func (p *Provider) lookup(a *ovm.Account) *Account {
	if sa := p.byID[a.AWSAccountID]; a.AWSAccountID != "" && sa != nil {
		return sa
	}
	return p.byMail[a.Email]
}

// Bootstrap implements ovm.Provider.
func (p *Provider) Bootstrap(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	unlock, err := p.enter()
	if err != nil {
		return ovm.StepResult{}, err
	}
	defer unlock()
	if r, err := p.begin(OpBootstrap, a); r != nil || err != nil {
		return deref(r), err
	}
	sa := p.byID[a.AWSAccountID]
	if sa == nil || sa.State != StateActive {
		return ovm.Failed(fmt.Sprintf("aws account %q is not active", a.AWSAccountID)), nil
	}
	now := p.clock.Now()
	if p.st.BootstrapsFailed < p.cfg.BootstrapFailures {
		p.st.BootstrapsFailed++
		return p.end(OpBootstrap, p.pageChanged(a, now))
	}
	if sa.BootstrapStartedAt.IsZero() {
		sa.BootstrapStartedAt = now
	}
	done := sa.BootstrapStartedAt.Add(p.cfg.BootstrapLatency)
	r := ovm.StepResult{Status: ovm.StepPending, Wait: wait(done.Sub(now)), Reason: "bootstrapping",
		Progress: map[string]string{"sim.bootstrap": "started"}}
	if !now.Before(done) {
		sa.RoleARN = ovm.RoleARN(sa.ID, p.cfg.RoleName)
		r = ovm.StepResult{Status: ovm.StepDone, RoleARN: sa.RoleARN, Progress: map[string]string{"sim.bootstrap": "done"}}
	}
	return p.end(OpBootstrap, r)
}

// Clean implements ovm.Cleaner: a wipe takes CleanLatency.
func (p *Provider) Clean(ctx context.Context, a *ovm.Account, _ ovm.RetirePolicy) (ovm.StepResult, error) {
	unlock, err := p.enter()
	if err != nil {
		return ovm.StepResult{}, err
	}
	defer unlock()
	if r, err := p.begin(OpClean, a); r != nil || err != nil {
		return deref(r), err
	}
	sa := p.byID[a.AWSAccountID]
	if sa == nil || sa.State != StateActive {
		return ovm.Failed(fmt.Sprintf("aws account %q is not active", a.AWSAccountID)), nil
	}
	now := p.clock.Now()
	// Wipe number a.Generation+1: started once, finished after the latency.
	if sa.Cleans > a.Generation {
		return p.end(OpClean, ovm.StepResult{Status: ovm.StepDone})
	}
	if sa.CleanStartedAt.IsZero() {
		sa.CleanStartedAt = now
	}
	done := sa.CleanStartedAt.Add(p.cfg.CleanLatency)
	if now.Before(done) {
		return p.end(OpClean, ovm.Pending(done.Sub(now), "cleaning"))
	}
	sa.Cleans++
	sa.CleanStartedAt = time.Time{}
	removed := sa.Resources
	sa.Resources = 0
	sa.FrozenFor = "" // never back in stock frozen, whatever a freeze that raced the lease's end left
	return p.end(OpClean, ovm.StepResult{Status: ovm.StepDone,
		Report: fmt.Sprintf("simulated wipe %d: %d resources removed, nothing left", sa.Cleans, removed)})
}

// Close implements ovm.Provider: quota-aware, done once SUSPENDED.
func (p *Provider) Close(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	unlock, err := p.enter()
	if err != nil {
		return ovm.StepResult{}, err
	}
	defer unlock()
	if r, err := p.begin(OpClose, a); r != nil || err != nil {
		return deref(r), err
	}
	sa := p.lookup(a)
	if sa == nil {
		return p.end(OpClose, ovm.StepResult{Status: ovm.StepDone, Reason: "no aws account exists"})
	}
	now := p.clock.Now()
	if sa.State == StateCreating {
		return p.end(OpClose, ovm.Pending(wait(sa.ActiveAt.Sub(now)), "waiting for creation to finish before closing"))
	}
	if sa.State == StateActive {
		if q := p.quotaLocked(now); q.Limited() && q.Left() == 0 {
			return p.end(OpClose, ovm.Pending(wait(q.NextFreeAt.Sub(now)),
				fmt.Sprintf("close quota exhausted (%d per %s) until %s", q.Limit, q.Window, q.NextFreeAt.Format(time.RFC3339))))
		}
		sa.State = StatePendingClosure
		sa.CloseRequestedAt = now
		p.st.Closes = append(p.st.Closes, now)
	}
	if sa.State == StatePendingClosure && !now.Before(sa.CloseRequestedAt.Add(p.cfg.CloseLatency)) {
		sa.State = StateSuspended
	}
	if sa.State == StateSuspended {
		return p.end(OpClose, ovm.StepResult{Status: ovm.StepDone})
	}
	return p.end(OpClose, ovm.Pending(wait(sa.CloseRequestedAt.Add(p.cfg.CloseLatency).Sub(now)), "PENDING_CLOSURE"))
}

// CloseQuota implements ovm.QuotaReporter.
func (p *Provider) CloseQuota(ctx context.Context) (ovm.Quota, error) {
	unlock, err := p.enter()
	if err != nil {
		return ovm.Quota{}, err
	}
	defer unlock()
	return p.quotaLocked(p.clock.Now()), nil
}

func (p *Provider) quotaLocked(now time.Time) ovm.Quota {
	q := ovm.Quota{Limit: p.cfg.CloseQuota, Window: p.cfg.CloseWindow}
	for _, t := range p.st.Closes {
		if now.Sub(t) < p.cfg.CloseWindow {
			if q.Used == 0 {
				q.NextFreeAt = t.Add(p.cfg.CloseWindow)
			}
			q.Used++
		}
	}
	return q
}

// Inventory implements ovm.Inventory: the accounts whose creation finished,
// with their tags and state.
func (p *Provider) Inventory(ctx context.Context) ([]ovm.ExternalAccount, error) {
	unlock, err := p.enter()
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := p.clock.Now()
	var out []ovm.ExternalAccount
	for _, a := range p.st.Accounts {
		if a.State == StateCreating && now.Before(a.ActiveAt) {
			continue // AWS lists an account once it exists
		}
		state := a.State
		if state == StateCreating {
			state = StateActive
		}
		out = append(out, ovm.ExternalAccount{AWSAccountID: a.ID, AccountID: a.OVMID, Pool: a.Pool, Email: a.Email, State: state})
	}
	return out, nil
}

// Litter acts out a lessee who leaves n resources in the simulated account
// awsID; the next wipe (Clean) removes them.
func (p *Provider) Litter(awsID string, n int) error {
	unlock, err := p.enter()
	if err != nil {
		return err
	}
	defer unlock()
	a := p.byID[awsID]
	if a == nil || a.State != StateActive {
		return fmt.Errorf("sim: no active account %s", awsID)
	}
	a.Resources += n
	return p.save()
}

// CloseOutside acts out a human closing the account in the console, behind
// OVM's back.
func (p *Provider) CloseOutside(awsID string) error {
	unlock, err := p.enter()
	if err != nil {
		return err
	}
	defer unlock()
	a := p.byID[awsID]
	if a == nil {
		return fmt.Errorf("sim: no account %s", awsID)
	}
	a.State = StateSuspended
	return p.save()
}

// AddOutside acts out an account created outside OVM that carries OVM's
// tags (e.g. restored from another installation), and returns its id.
func (p *Provider) AddOutside(ovmID, pool, email string) (string, error) {
	unlock, err := p.enter()
	if err != nil {
		return "", err
	}
	defer unlock()
	now := p.clock.Now()
	a := &Account{ID: p.newAccountIDLocked(), OVMID: ovmID, Pool: pool, Email: email, Name: ovmID,
		Ref: "car-" + randHex(16), State: StateActive, CreatedAt: now, ActiveAt: now}
	p.st.Accounts = append(p.st.Accounts, a)
	p.index(a)
	return a.ID, p.save()
}
