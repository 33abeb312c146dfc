package sim

import (
	"context"
	"fmt"
	"slices"

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
