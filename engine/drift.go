package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// Finding is one difference between AWS and the store.
type Finding struct {
	Pool         string    `json:"pool"`
	AWSAccountID string    `json:"aws_account_id,omitempty"`
	AccountID    string    `json:"account_id,omitempty"` // OVM id, when known
	Problem      string    `json:"problem"`
	Since        time.Time `json:"since"`
}

func (f Finding) key() string {
	return f.Pool + "|" + f.AWSAccountID + "|" + f.AccountID + "|" + f.Problem
}

// Drift compares, for each pool whose provider has an ovm.Inventory, the
// accounts AWS holds under OVM's tags with the accounts of the store. Every
// new finding is logged and appended to the event log once; the current
// findings are part of the pool's status until they go away.
type Drift struct {
	e *Engine

	mu       sync.Mutex
	findings map[string][]Finding // by pool
	lastRun  map[string]time.Time
}

// aliveInAWS are the states in which the account must be ACTIVE in AWS.
var aliveInAWS = map[ovm.AccountState]bool{ovm.AccountBootstrapping: true, ovm.AccountReady: true,
	ovm.AccountLeased: true, ovm.AccountCleaning: true}

// CompareInventory is the pure part of the drift check for one pool.
func CompareInventory(pool string, ext []ovm.ExternalAccount, stored []*ovm.Account) []Finding {
	byID := map[string]*ovm.Account{}
	byAWS := map[string]*ovm.Account{}
	for _, a := range stored {
		byID[a.ID] = a
		if a.AWSAccountID != "" {
			byAWS[a.AWSAccountID] = a
		}
	}
	var out []Finding
	seen := map[string]bool{}
	for _, x := range ext {
		a := byID[x.AccountID]
		if a == nil && x.Pool != pool {
			continue // another pool's account
		}
		seen[x.AWSAccountID] = true
		switch {
		case a == nil && byAWS[x.AWSAccountID] == nil:
			out = append(out, Finding{Pool: pool, AWSAccountID: x.AWSAccountID, Problem: fmt.Sprintf(
				"aws account %s (%s, %s) is tagged ovm:account-id=%s but the store does not know it", x.AWSAccountID, x.Email, x.State, x.AccountID)})
		case a == nil:
			a = byAWS[x.AWSAccountID]
			out = append(out, Finding{Pool: pool, AWSAccountID: x.AWSAccountID, AccountID: a.ID, Problem: fmt.Sprintf(
				"aws account %s is tagged ovm:account-id=%s but the store has it as %s", x.AWSAccountID, x.AccountID, a.ID)})
		case a.AWSAccountID != "" && a.AWSAccountID != x.AWSAccountID:
			out = append(out, Finding{Pool: pool, AWSAccountID: x.AWSAccountID, AccountID: a.ID, Problem: fmt.Sprintf(
				"the store has %s as aws account %s, but aws account %s carries its tag", a.ID, a.AWSAccountID, x.AWSAccountID)})
		case aliveInAWS[a.State] && x.State != "ACTIVE":
			out = append(out, Finding{Pool: pool, AWSAccountID: x.AWSAccountID, AccountID: a.ID, Problem: fmt.Sprintf(
				"the store has %s as %s but AWS reports it %s: closed outside OVM?", a.ID, a.State, x.State)})
		case a.State == ovm.AccountClosed && x.State == "ACTIVE":
			out = append(out, Finding{Pool: pool, AWSAccountID: x.AWSAccountID, AccountID: a.ID, Problem: fmt.Sprintf(
				"the store has %s as closed but AWS reports it ACTIVE", a.ID)})
		}
	}
	for _, a := range stored {
		if a.AWSAccountID != "" && (aliveInAWS[a.State] || a.State == ovm.AccountClosing) && !seen[a.AWSAccountID] {
			out = append(out, Finding{Pool: pool, AWSAccountID: a.AWSAccountID, AccountID: a.ID, Problem: fmt.Sprintf(
				"the store has %s (%s) as aws account %s, which the organization does not list with OVM's tags", a.ID, a.State, a.AWSAccountID)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out
}

// RunOnce checks every pool with an inventory, when this engine holds the
// drift leader lease, and returns how many findings are new.
func (d *Drift) RunOnce(ctx context.Context) (int, error) {
	e := d.e
	// One replica checks; its lease outlives one interval so it keeps it.
	if ok, err := e.lead(ctx, "drift", 2*e.cfg.DriftInterval); !ok || err != nil {
		return 0, err
	}
	newFindings := 0
	var errs []error
	var keep []ovm.Guard // read once, when a pool collects
	for _, pool := range e.pools {
		if gr, ok := pool.Provider.(ovm.Guardrailer); ok {
			n, err := d.checkGuards(ctx, pool.Policy.Name, gr)
			newFindings += n
			if err != nil {
				errs = append(errs, fmt.Errorf("guardrail check of pool %s: %w", pool.Policy.Name, err))
			}
			if gc, ok := gr.(ovm.GuardrailCollector); ok && err == nil {
				if keep == nil {
					keep, err = d.guardsInUse(ctx)
				}
				if err == nil {
					err = d.collectGuards(ctx, pool.Policy.Name, gc, keep)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("guardrail collection of pool %s: %w", pool.Policy.Name, err))
				}
			}
		}
		if _, ok := pool.Provider.(ovm.Freezer); ok {
			if err := d.checkFreezes(ctx, pool.Policy.Name); err != nil {
				errs = append(errs, fmt.Errorf("freeze check of pool %s: %w", pool.Policy.Name, err))
			}
		}
		if tr, ok := pool.Provider.(ovm.TrustRepairer); ok {
			if err := d.repairTrust(ctx, pool.Policy.Name, tr); err != nil {
				errs = append(errs, fmt.Errorf("trust check of pool %s: %w", pool.Policy.Name, err))
			}
		}
		inv, ok := pool.Provider.(ovm.Inventory)
		if !ok {
			continue
		}
		n, err := d.checkPool(ctx, pool.Policy.Name, inv)
		newFindings += n
		if err != nil {
			errs = append(errs, fmt.Errorf("drift check of pool %s: %w", pool.Policy.Name, err))
		}
	}
	return newFindings, errors.Join(errs...)
}

// trustChecksPerRun bounds the ready accounts whose trust one run checks:
// one AWS read each, once per account.
const trustChecksPerRun = 100

// repairTrust checks, once per account, the vended role's trust of pool's
// ready accounts that were not checked against ovm.TrustVersion yet, and
// repairs an older trust (ovm.TrustRepairer): accounts bootstrapped by an
// older OVM would otherwise refuse every lessee's credentials. An account
// vended meanwhile is left for the next run.
func (d *Drift) repairTrust(ctx context.Context, pool string, tr ovm.TrustRepairer) error {
	e := d.e
	checked := 0
	params := &ovm.AccountListParams{Pool: pool, State: ovm.AccountReady, PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}}
	for checked < trustChecksPerRun {
		page, next, err := e.store.AccountList(ctx, params)
		if err != nil {
			return err
		}
		for _, a := range page {
			if a.Progress[ovm.ProgressTrustChecked] == ovm.TrustVersion || checked >= trustChecksPerRun {
				continue
			}
			checked++
			repaired, err := tr.RepairTrust(ctx, a)
			if err != nil {
				return fmt.Errorf("account %s: %w", a.ID, err)
			}
			u, err := ovm.RecordTrustChecked(a, repaired, e.clock.Now())
			if err != nil {
				return err
			}
			if _, err := e.store.AccountUpdate(ctx, u); err != nil && !errors.Is(err, ovm.ErrConflict) {
				return err
			}
			if repaired {
				e.log.Info("vended role's trust repaired", ovm.LogPool, pool, ovm.LogAccountID, a.ID)
			}
		}
		if next == "" {
			return nil
		}
		params.Cursor = next
	}
	return nil
}

func (d *Drift) checkPool(ctx context.Context, name string, inv ovm.Inventory) (int, error) {
	e := d.e
	ext, err := inv.Inventory(ctx)
	if err != nil {
		return 0, err
	}
	var stored []*ovm.Account
	params := &ovm.AccountListParams{Pool: name, PageParams: ovm.PageParams{Limit: ovm.MaxPageLimit}}
	for {
		page, next, err := e.store.AccountList(ctx, params)
		if err != nil {
			return 0, err
		}
		stored = append(stored, page...)
		if next == "" {
			break
		}
		params.Cursor = next
	}
	now := e.clock.Now()
	found := CompareInventory(name, ext, stored)
	d.mu.Lock()
	prev := map[string]Finding{}
	for _, f := range d.findings[name] {
		prev[f.key()] = f
	}
	d.mu.Unlock()
	fresh := 0
	for i, f := range found {
		if p, ok := prev[f.key()]; ok {
			found[i].Since = p.Since
			continue
		}
		found[i].Since = now
		fresh++
		e.log.Warn("drift between AWS and the store", ovm.LogPool, name, ovm.LogAWSAccountID, f.AWSAccountID,
			ovm.LogAccountID, f.AccountID, "problem", f.Problem)
		if err := e.store.EventAppend(ctx, &ovm.Event{Time: now, Kind: ovm.EventDrift, AccountID: f.AccountID, Pool: name,
			Actor: ovm.ActorDrift, From: "aws", To: "store", Reason: f.Problem}); err != nil {
			return fresh, err
		}
	}
	d.mu.Lock()
	if d.findings == nil {
		d.findings, d.lastRun = map[string][]Finding{}, map[string]time.Time{}
	}
	d.findings[name] = found
	d.lastRun[name] = now
	d.mu.Unlock()
	return fresh, nil
}

// Findings returns the current findings of pool and when it was last
// checked (zero if never).
func (d *Drift) Findings(pool string) ([]Finding, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Finding(nil), d.findings[pool]...), d.lastRun[pool]
}
