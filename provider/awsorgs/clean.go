package awsorgs

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/cleaner/awsnuke"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// Nuker wipes an account; cleaner/awsnuke.Runner is the real one. watch,
// when not nil, hears how the run is going while it runs.
type Nuker interface {
	Run(ctx context.Context, p awsnuke.Params, creds aws.Credentials, timeout time.Duration, watch func(awsnuke.Progress)) (*awsnuke.Report, error)
}

// NukeConfig is what a recycle pool's wipes may touch: its `nuke:` block,
// and the AWS region and endpoint (moto) of the `aws:` block.
type NukeConfig struct {
	awsnuke.Config
	Region, Endpoint string
	// EventEvery is the least time between two progress events of one
	// pass in the account's event log (default 1m; the start event counts).
	EventEvery time.Duration
}

// Progress keys of cleaning.
const (
	progressCleanGen      = "awsorgs.clean_generation"
	progressCleanPasses   = "awsorgs.clean_passes"
	progressCleanAttempts = "awsorgs.clean_attempts_seen"
	progressCleanReport   = "awsorgs.last_clean_report"
)

// extraPasses bounds passes that keep finding resources.
const extraPasses = 3

var _ ovm.Cleaner = (*Provider)(nil)

// SetNuker makes the provider able to recycle accounts with n under cfg.
func (p *Provider) SetNuker(n Nuker, cfg NukeConfig) {
	if cfg.EventEvery <= 0 {
		cfg.EventEvery = time.Minute
	}
	p.nuker, p.nukeCfg = &livePasses{Nuker: n, running: map[string]*livePass{}}, cfg
}

// Clean implements ovm.Cleaner: one wipe pass with the account's own
// short-lived credentials (the creation role's), after resetting the vended
// role's trust so that a previous lessee's principal loses access. The
// account is clean after policy.CleanPasses successful passes in a row, the
// last finding nothing; a failed pass is an error (retried, then
// quarantined with its report); passes that keep finding resources end in
// a definitive failure.
//
// While the pass runs it is visible: an event when aws-nuke starts, a
// progress event at most every EventEvery, and LiveProgress in this
// process. It never writes the account itself.
func (p *Provider) Clean(ctx context.Context, a *ovm.Account, policy ovm.RetirePolicy) (ovm.StepResult, error) {
	ps, ok := p.nuker.(*livePasses)
	if !ok {
		return ovm.Failed("pool has no cleaner configured"), nil
	}
	// Consecutive successful passes of this generation; a failure since the
	// last pass (attempts moved) starts the count again.
	gen, attempts := strconv.Itoa(a.Generation), strconv.Itoa(a.Attempts)
	passes := 0
	if a.Progress[progressCleanGen] == gen && a.Progress[progressCleanAttempts] == attempts {
		passes, _ = strconv.Atoi(a.Progress[progressCleanPasses])
	}
	passes++
	ps.begin(a.ID, passes, p.clock.Now())
	defer ps.end(a.ID)
	_, mgmtID, err := p.org(ctx)
	if err != nil {
		return ovm.StepResult{}, err
	}
	creds := p.assume(ovm.RoleARN(a.AWSAccountID, p.cfg.CreationRole), "ovm-clean", p.c.STS)
	value, err := creds.Retrieve(ctx)
	if err != nil {
		return ovm.StepResult{}, fmt.Errorf("assume the creation role for cleaning: %w", err)
	}
	if err := p.resetRole(ctx, p.c.IAMFor(creds), mgmtID); err != nil {
		return ovm.StepResult{}, fmt.Errorf("reset the vended role: %w", err)
	}
	params := p.nukeCfg.Params(a.AWSAccountID, mgmtID, p.nukeCfg.Region, p.nukeCfg.Endpoint)
	params.ProtectRoles = []string{p.cfg.RoleName, p.cfg.CreationRole, ForwardRole}
	p.event(ctx, a, startedReason(passes, params, policy.CleanTimeout))
	rep, err := ps.Run(ctx, params, value, policy.CleanTimeout, func(pr awsnuke.Progress) {
		now := p.clock.Now()
		if r, due := ps.update(a.ID, pr, now, p.nukeCfg.EventEvery); due {
			p.event(ctx, a, progressReason(r, now))
		}
	})
	if err != nil {
		return ovm.Failed("cleaner refused: " + err.Error()), nil
	}
	report, _ := json.Marshal(rep)
	if !rep.OK() {
		return ovm.StepResult{}, fmt.Errorf("cleaning pass %d failed: %s", passes, rep)
	}
	progress := map[string]string{progressCleanGen: gen, progressCleanPasses: strconv.Itoa(passes),
		progressCleanAttempts: attempts, progressCleanReport: string(report)}
	summary := fmt.Sprintf("pass %d: %s", passes, rep)
	switch {
	case rep.Found == 0 && passes >= policy.CleanPasses:
		if err := p.ensureForwarding(ctx, a.AWSAccountID, creds); err != nil { // the wipe took the rules
			return ovm.StepResult{}, fmt.Errorf("spend forwarding: %w", err)
		}
		if err := p.leaveRetiringOU(ctx, a); err != nil {
			return ovm.StepResult{}, fmt.Errorf("leave the retiring OU: %w", err)
		}
		// Never back in stock under a frozen lease's deny-all SCP, whatever
		// a freeze that raced the lease's end left on it.
		if err := p.Unfreeze(ctx, a, ovm.Freeze{}); err != nil {
			return ovm.StepResult{}, fmt.Errorf("detach the deny-all SCP of frozen leases: %w", err)
		}
		return ovm.StepResult{Status: ovm.StepDone, Report: summary, Progress: progress}, nil
	case passes >= policy.CleanPasses+extraPasses:
		r := ovm.Failed(fmt.Sprintf("resources keep reappearing after %d passes, last: %s", passes, rep))
		r.Progress, r.Report = progress, summary
		return r, nil
	}
	return ovm.StepResult{Status: ovm.StepPending, Reason: "cleaning: " + summary, Report: summary, Progress: progress}, nil
}

// resetRole puts the vended role back as bootstrap made it: the configured
// trust and managed policies, and nothing a lessee added (other attached
// policies are detached, inline policies deleted). The deny of sessions
// older than the last lease's end (roleaccess.PolicyName) stays.
func (p *Provider) resetRole(ctx context.Context, c iamAPI, mgmtID string) error {
	if _, err := p.ensureRole(ctx, c, mgmtID); err != nil {
		return err
	}
	name := aws.String(p.cfg.RoleName)
	attached, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: name})
	if err != nil {
		return err
	}
	for _, pol := range attached.AttachedPolicies {
		if !slices.Contains(p.cfg.RolePolicyARNs, aws.ToString(pol.PolicyArn)) {
			if _, err := c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: name, PolicyArn: pol.PolicyArn}); err != nil {
				return err
			}
		}
	}
	inline, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: name})
	if err != nil {
		return err
	}
	for _, pol := range inline.PolicyNames {
		if pol == roleaccess.PolicyName {
			continue
		}
		if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: name, PolicyName: aws.String(pol)}); err != nil {
			return err
		}
	}
	return nil
}
