package sim

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ovmdev/ovm"
)

// Guard implements ovm.Guardrailer: the simulated account records g, as
// an SCP attached to a member account would be (the simulation makes no
// calls a guardrail could deny).
func (p *Provider) Guard(ctx context.Context, a *ovm.Account, g ovm.Guard) error {
	unlock, err := p.enter()
	if err != nil {
		return err
	}
	defer unlock()
	if res, err := p.begin(OpGuard, a); res != nil || err != nil {
		if err == nil {
			err = fmt.Errorf("sim: %s", res.Reason)
		}
		return err
	}
	sa := p.lookup(a)
	if sa == nil || sa.State != StateActive {
		return fmt.Errorf("sim: aws account %q is not active", a.AWSAccountID)
	}
	if g.Document != "" && !slices.ContainsFunc(p.st.Policies, func(sp *Policy) bool { return sp.Template == g.Template && sp.Version == g.Version }) {
		p.st.Policies = append(p.st.Policies, &Policy{Template: g.Template, Version: g.Version})
	}
	sa.Guardrails = &Guardrails{Template: g.Template, Version: g.Version, Document: g.Document, PolicyIDs: slices.Clone(g.PolicyIDs)}
	_, err = p.end(OpGuard, ovm.StepResult{Status: ovm.StepDone})
	return err
}

// GuardCheck implements ovm.Guardrailer.
func (p *Provider) GuardCheck(ctx context.Context, a *ovm.Account, g ovm.Guard) (string, error) {
	for _, sa := range p.Accounts() {
		if sa.ID != a.AWSAccountID {
			continue
		}
		switch got := sa.Guardrails; {
		case got == nil:
			return "no guardrails are attached", nil
		case got.Version != g.Version || got.Document != g.Document:
			return fmt.Sprintf("the attached guardrails are version %s, not %s", got.Version, g.Version), nil
		case !slices.Equal(got.PolicyIDs, g.PolicyIDs):
			return "the organization's policies attached differ", nil
		}
		return "", nil
	}
	return "", fmt.Errorf("sim: aws account %q is unknown", a.AWSAccountID)
}

// Unguard implements ovm.Guardrailer: the simulated account's guardrails
// are taken off.
func (p *Provider) Unguard(ctx context.Context, a *ovm.Account, g ovm.Guard) (ovm.StepResult, error) {
	unlock, err := p.enter()
	if err != nil {
		return ovm.StepResult{}, err
	}
	defer unlock()
	if res, err := p.begin(OpGuard, a); res != nil || err != nil {
		return deref(res), err
	}
	sa := p.lookup(a)
	if sa == nil {
		return ovm.Failed(fmt.Sprintf("aws account %q is unknown", a.AWSAccountID)), nil
	}
	sa.Guardrails = nil
	return p.end(OpGuard, ovm.StepResult{Status: ovm.StepDone, Report: "guardrails of template " + g.Template + " detached"})
}

// Guardrails returns the guardrails on the simulated account awsID (nil
// for none).
func (p *Provider) Guardrails(awsID string) *Guardrails {
	for _, a := range p.Accounts() {
		if a.ID == awsID {
			return a.Guardrails
		}
	}
	return nil
}

// Policy is a guardrail policy the simulation made for a template's
// version, as an SCP would be: it exists from the first Guard of the
// version until CollectGuardrails deletes it.
type Policy struct {
	Template string `json:"template"`
	Version  string `json:"version"`
	// UnusedSince is when CollectGuardrails first saw it unused (nil: in use).
	UnusedSince *time.Time `json:"unused_since,omitempty"`
}

// Name is the policy's name, as an organizations pool names its SCP.
func (sp Policy) Name() string { return "ovm-guard-" + sp.Template + "-" + sp.Version }

// Policies returns a copy of the guardrail policies of template ("" for
// every template).
func (p *Provider) Policies(template string) []Policy {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if unlock, err := p.shared(); err == nil {
		defer unlock()
	}
	var out []Policy
	for _, sp := range p.st.Policies {
		if template == "" || sp.Template == template {
			out = append(out, *sp)
		}
	}
	return out
}

// CollectGuardrails implements ovm.GuardrailCollector: a policy keep does
// not name and no account has on is marked unused, and deleted when still
// so Config.GuardrailGrace later.
func (p *Provider) CollectGuardrails(ctx context.Context, keep []ovm.Guard) (ovm.GuardrailCollection, error) {
	var res ovm.GuardrailCollection
	unlock, err := p.enter()
	if err != nil {
		return res, err
	}
	defer unlock()
	now := p.clock.Now()
	used := func(sp *Policy) bool {
		for _, g := range keep {
			if g.Template == sp.Template && g.Version == sp.Version {
				return true
			}
		}
		for _, sa := range p.st.Accounts {
			if g := sa.Guardrails; g != nil && g.Template == sp.Template && g.Version == sp.Version {
				return true
			}
		}
		return false
	}
	kept := p.st.Policies[:0]
	for _, sp := range p.st.Policies {
		switch {
		case used(sp):
			sp.UnusedSince = nil
		case sp.UnusedSince == nil:
			t := now
			sp.UnusedSince = &t
			res.Unused = append(res.Unused, sp.Name())
		case now.Sub(*sp.UnusedSince) >= p.cfg.GuardrailGrace:
			res.Deleted = append(res.Deleted, sp.Name())
			continue
		}
		kept = append(kept, sp)
	}
	p.st.Policies = kept
	return res, p.save()
}
