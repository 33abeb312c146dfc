package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
)

// Decide turns one provider outcome into the account's next record. It is
// pure: the same account, policy, outcome and time give the same update.
//
//   - a non-nil callErr is transient: retry with backoff, quarantine when
//     the attempts are used up;
//   - pending: stay, poll again after the provider's wait (clamped to
//     [minPoll, maxPoll]); a pending create that returned its reference
//     moves pending -> creating;
//   - done: the state's forward transition;
//   - failed: abandoned when creation failed and no AWS account can
//     exist, quarantined otherwise.
func Decide(a *ovm.Account, pol ovm.Pool, res ovm.StepResult, callErr error, now time.Time, minPoll, maxPoll time.Duration) (*ovm.AccountUpdate, error) {
	if callErr != nil {
		return ovm.RecordStepFailure(a, pol.Retry, callErr.Error(), now)
	}
	var (
		u   *ovm.AccountUpdate
		err error
	)
	switch res.Status {
	case ovm.StepPending:
		wait := min(max(res.Wait, minPoll), maxPoll)
		if a.State == ovm.AccountPending && res.ExternalRef != "" {
			u, err = ovm.StartCreating(a, res.ExternalRef, now)
			if err == nil {
				u.Account.NextAttemptAt = now.Add(wait)
				u.Account.Waiting = res.Reason
			}
		} else {
			u, err = ovm.RecordStepWaiting(a, wait, res.Reason, res.Progress, now)
			if err == nil && a.State == ovm.AccountCreating && res.ExternalRef != "" {
				u.Account.ExternalRef = res.ExternalRef // a new request replaced a failed one
			}
		}
	case ovm.StepDone:
		switch {
		case revoking(a):
			u, err = ovm.FinishRevocation(a, "", now)
		case ovm.Unguarding(a):
			u, err = ovm.FinishUnguard(a, "", now)
		default:
			u, err = decideDone(a, res, now)
		}
	case ovm.StepFailed:
		reason := res.Reason
		if reason == "" {
			reason = "provider reported a failure without a reason"
		}
		if (a.State == ovm.AccountPending || a.State == ovm.AccountCreating) && !res.AccountMayExist {
			u, err = ovm.AbandonAccount(a, reason, now)
		} else {
			u, err = ovm.QuarantineAccount(a, ovm.ActorEngine, reason, now)
		}
	default:
		return nil, fmt.Errorf("engine: provider returned unknown status %q", res.Status)
	}
	if err != nil {
		return nil, err
	}
	if res.Status != ovm.StepPending {
		ovm.MergeProgress(u, res.Progress)
	}
	if res.Report != "" {
		if u.Event == nil {
			u.Event = &ovm.Event{Time: now, Kind: ovm.EventAccount, AccountID: a.ID, Pool: a.Pool, Actor: ovm.ActorEngine,
				From: string(a.State), To: string(u.Account.State)}
		}
		u.Event.Reason = strings.TrimPrefix(u.Event.Reason+": "+res.Report, ": ")
	}
	return u, nil
}

// decideDone is the forward transition of a's state once its step is done.
func decideDone(a *ovm.Account, res ovm.StepResult, now time.Time) (*ovm.AccountUpdate, error) {
	switch a.State {
	case ovm.AccountPending:
		ref := res.ExternalRef
		if ref == "" {
			ref = "aws:" + res.AWSAccountID
		}
		return ovm.StartCreating(a, ref, now)
	case ovm.AccountCreating:
		return ovm.FinishCreating(a, res.AWSAccountID, now)
	case ovm.AccountBootstrapping:
		return ovm.FinishBootstrap(a, res.RoleARN, now)
	case ovm.AccountCleaning:
		if at := ovm.VendableAt(a); now.Before(at) {
			// Clean, but the last revocation's clock margin has not passed:
			// the account is stock once it has.
			return ovm.RecordStepWaiting(a, at.Sub(now), "the revocation's clock margin", nil, now)
		}
		return ovm.FinishCleaning(a, now)
	case ovm.AccountClosing:
		return ovm.ObserveClosed(a, now)
	default:
		return nil, fmt.Errorf("engine: done result for account %s in state %s", a.ID, a.State)
	}
}
