package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// Freeze implements ovm.Freezer as the organizations provider does it on
// AWS: sessions issued before f.At denied, the trust back to the pool's
// own, a deny of everything recorded (FrozenFor); with f.Stop the lease's
// simulated instance is stopped (SpendFeed stops its spend).
func (p *Provider) Freeze(ctx context.Context, a *ovm.Account, f ovm.Freeze) (ovm.FreezeResult, error) {
	unlock, err := p.enter()
	if err != nil {
		return ovm.FreezeResult{}, err
	}
	defer unlock()
	if res, err := p.begin(OpFreeze, a); res != nil || err != nil {
		if err == nil {
			err = fmt.Errorf("sim: %s", res.Reason)
		}
		return ovm.FreezeResult{}, err
	}
	sa := p.lookup(a)
	if sa == nil || sa.State != StateActive {
		return ovm.FreezeResult{}, fmt.Errorf("sim: aws account %q is not active", a.AWSAccountID)
	}
	before := f.At.UTC().Truncate(time.Second).Add(time.Second)
	if before.After(sa.DenyBefore) {
		sa.DenyBefore = before
	}
	sa.Trust = nil
	sa.FrozenFor = f.LeaseID
	out := ovm.FreezeResult{Report: "sessions issued before " + before.Format(time.RFC3339) + " denied, trust reset, everything denied"}
	if f.Stop {
		sa.StoppedFor = f.LeaseID
		out.Stopped = []*ovm.SpendChange{{Action: ovm.SpendStop, Type: "ec2.instance", Region: SpendRegion, ID: instanceID(f.LeaseID)}}
		out.Report += "; the simulated instance " + instanceID(f.LeaseID) + " stopped"
	}
	if _, err := p.end(OpFreeze, ovm.StepResult{Status: ovm.StepDone}); err != nil {
		return ovm.FreezeResult{}, err
	}
	return out, nil
}

// Unfreeze implements ovm.Freezer: the deny of everything lifted and the
// lease's principal trusted again. Sessions issued before the freeze stay
// denied; a stopped instance stays stopped.
func (p *Provider) Unfreeze(ctx context.Context, a *ovm.Account, f ovm.Freeze) error {
	unlock, err := p.enter()
	if err != nil {
		return err
	}
	defer unlock()
	if res, err := p.begin(OpFreeze, a); res != nil || err != nil {
		if err == nil {
			err = fmt.Errorf("sim: %s", res.Reason)
		}
		return err
	}
	sa := p.lookup(a)
	if sa == nil {
		return fmt.Errorf("sim: aws account %q is unknown", a.AWSAccountID)
	}
	sa.FrozenFor = ""
	if f.Principal != "" {
		sa.Trust = append(sa.Trust[:0:0], f.Principal)
	}
	_, err = p.end(OpFreeze, ovm.StepResult{Status: ovm.StepDone})
	return err
}

// Frozen reports which lease's freeze is in place on the simulated
// account awsID ("" for none).
func (p *Provider) Frozen(awsID string) string {
	for _, a := range p.Accounts() {
		if a.ID == awsID {
			return a.FrozenFor
		}
	}
	return ""
}
