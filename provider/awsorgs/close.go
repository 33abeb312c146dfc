package awsorgs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
)

// quotaRetry is how long to wait after AWS refused a closure for quota.
const quotaRetry = time.Hour

// Close implements ovm.Provider: within the close ledger's quota, request
// CloseAccount once, then poll DescribeAccount until AWS reports the account
// SUSPENDED or CLOSED.
func (p *Provider) Close(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	orgID, _, err := p.org(ctx)
	if err != nil {
		return ovm.StepResult{}, err
	}
	id := a.AWSAccountID
	if id == "" {
		// Retired before creation finished: find what AWS made, if anything.
		r, found, err := p.findExisting(ctx, a)
		if err != nil {
			return ovm.StepResult{}, err
		}
		if !found {
			return ovm.StepResult{Status: ovm.StepDone, Reason: "no aws account exists"}, nil
		}
		if r.Status != ovm.StepDone {
			return ovm.Pending(p.cfg.PollInterval, "waiting for CreateAccount to finish before closing"), nil
		}
		id = r.AWSAccountID
	}
	out, err := p.c.Orgs.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(id)})
	var nf *types.AccountNotFoundException
	if errors.As(err, &nf) {
		return ovm.StepResult{Status: ovm.StepDone, Reason: "account no longer in the organization"}, nil
	}
	if err != nil {
		return ovm.StepResult{}, fmt.Errorf("describe account %s: %w", id, err)
	}
	switch out.Account.State {
	case types.AccountStateSuspended, types.AccountStateClosed:
		return ovm.StepResult{Status: ovm.StepDone}, nil
	case types.AccountStatePendingClosure:
		return ovm.Pending(p.cfg.PollInterval, "PENDING_CLOSURE"), nil
	}
	now := p.clock.Now()
	entries, err := p.ledger.CloseLedgerList(ctx, orgID, windowStart(now))
	if err != nil {
		return ovm.StepResult{}, fmt.Errorf("close ledger: %w", err)
	}
	requested := false
	for _, e := range entries {
		requested = requested || e.AWSAccountID == id
	}
	if !requested {
		if len(entries) >= p.cfg.CloseQuota {
			next := entries[len(entries)-p.cfg.CloseQuota].At.Add(CloseWindow)
			return ovm.Pending(next.Sub(now), fmt.Sprintf("close quota: %d of %d closures used in 30 days; next at %s",
				len(entries), p.cfg.CloseQuota, next.UTC().Format(time.RFC3339))), nil
		}
		// Written before the call: a crash after it only costs a slot.
		if err := p.ledger.CloseLedgerAdd(ctx, &ovm.CloseEntry{Ledger: orgID, AWSAccountID: id, AccountID: a.ID, Pool: a.Pool, At: now}); err != nil {
			return ovm.StepResult{}, fmt.Errorf("close ledger: %w", err)
		}
	}
	_, err = p.c.Orgs.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(id)})
	var closed *types.AccountAlreadyClosedException
	var cv *types.ConstraintViolationException
	switch {
	case err == nil:
		p.log.Info("CloseAccount requested", ovm.LogAccountID, a.ID, ovm.LogAWSAccountID, id)
		return ovm.Pending(p.cfg.PollInterval, "close requested"), nil
	case errors.As(err, &closed):
		return ovm.Pending(p.cfg.PollInterval, "already closed; waiting to observe it"), nil
	case errors.As(err, &cv) && (cv.Reason == types.ConstraintViolationExceptionReasonCloseAccountQuotaExceeded ||
		cv.Reason == types.ConstraintViolationExceptionReasonCloseAccountRequestsLimitExceeded):
		return ovm.Pending(quotaRetry, fmt.Sprintf("AWS refused the closure (%s); retrying at %s", cv.Reason,
			now.Add(quotaRetry).UTC().Format(time.RFC3339))), nil
	default:
		return ovm.StepResult{}, fmt.Errorf("CloseAccount %s: %w", id, err)
	}
}

// windowStart is the oldest time still inside the quota window at now: a
// closure leaves the window CloseWindow after it was requested.
func windowStart(now time.Time) time.Time { return now.Add(-CloseWindow).Add(time.Nanosecond) }

// CloseQuota implements ovm.QuotaReporter from the close ledger.
func (p *Provider) CloseQuota(ctx context.Context) (ovm.Quota, error) {
	orgID, _, err := p.org(ctx)
	if err != nil {
		return ovm.Quota{}, err
	}
	now := p.clock.Now()
	entries, err := p.ledger.CloseLedgerList(ctx, orgID, windowStart(now))
	if err != nil {
		return ovm.Quota{}, err
	}
	q := ovm.Quota{Limit: p.cfg.CloseQuota, Used: len(entries), Window: CloseWindow}
	if len(entries) > 0 {
		q.NextFreeAt = entries[0].At.Add(CloseWindow)
	}
	return q, nil
}

// Inventory implements ovm.Inventory: every account of the organization
// that carries the ovm:account-id tag.
func (p *Provider) Inventory(ctx context.Context) ([]ovm.ExternalAccount, error) {
	var out []ovm.ExternalAccount
	pages := organizations.NewListAccountsPaginator(p.c.Orgs, &organizations.ListAccountsInput{},
		func(o *organizations.ListAccountsPaginatorOptions) { o.StopOnDuplicateToken = true })
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		for _, acct := range page.Accounts {
			tags, err := p.c.Orgs.ListTagsForResource(ctx, &organizations.ListTagsForResourceInput{ResourceId: acct.Id})
			if err != nil {
				return nil, fmt.Errorf("list tags of %s: %w", deref(acct.Id), err)
			}
			ext := ovm.ExternalAccount{AWSAccountID: deref(acct.Id), Email: deref(acct.Email), State: string(acct.State)}
			for _, t := range tags.Tags {
				switch deref(t.Key) {
				case TagAccountID:
					ext.AccountID = deref(t.Value)
				case TagPool:
					ext.Pool = deref(t.Value)
				}
			}
			if ext.AccountID != "" {
				out = append(out, ext)
			}
		}
	}
	return out, nil
}

// RecentCloses lists the closures of the quota window (ovm.CloseLister).
func (p *Provider) RecentCloses(ctx context.Context) ([]*ovm.CloseEntry, error) {
	orgID, _, err := p.org(ctx)
	if err != nil {
		return nil, err
	}
	return p.ledger.CloseLedgerList(ctx, orgID, windowStart(p.clock.Now()))
}
