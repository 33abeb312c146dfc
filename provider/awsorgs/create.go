package awsorgs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
)

// Tags OVM puts on every account it creates.
const (
	TagAccountID = "ovm:account-id"
	TagPool      = "ovm:pool"
	TagManagedBy = "ovm:managed-by"
)

// maxCreateRequests bounds how many CreateAccount requests one account may
// cost when AWS fails them transiently.
const maxCreateRequests = 5

// Progress keys: how many CreateAccount requests the account cost, and the
// last request that failed transiently (a new one follows after a wait).
const (
	progressRequests  = "awsorgs.create_requests"
	progressFailedRef = "awsorgs.failed_request"
)

// failureReasons maps each CreateAccount FailureReason to what it means for
// OVM: retry with a new request, quarantine (an AWS account may exist), or
// abandon (no account exists and retrying will not help).
var failureReasons = map[types.CreateAccountFailureReason]string{
	types.CreateAccountFailureReasonConcurrentAccountModification:                    "retry",
	types.CreateAccountFailureReasonAccountLimitExceeded:                             "retry",
	types.CreateAccountFailureReasonInternalFailure:                                  "quarantine",
	types.CreateAccountFailureReasonEmailAlreadyExists:                               "abandon",
	types.CreateAccountFailureReasonInvalidAddress:                                   "abandon",
	types.CreateAccountFailureReasonInvalidEmail:                                     "abandon",
	types.CreateAccountFailureReasonGovcloudAccountAlreadyExists:                     "abandon",
	types.CreateAccountFailureReasonMissingBusinessValidation:                        "abandon",
	types.CreateAccountFailureReasonFailedBusinessValidation:                         "abandon",
	types.CreateAccountFailureReasonPendingBusinessVALIDATIONv:                       "abandon",
	types.CreateAccountFailureReasonInvalidIdentityForBusinessValidation:             "abandon",
	types.CreateAccountFailureReasonUnknownBusinessValidation:                        "abandon",
	types.CreateAccountFailureReasonMissingPaymentInstrument:                         "abandon",
	types.CreateAccountFailureReasonInvalidPaymentInstrument:                         "abandon",
	types.CreateAccountFailureReasonUpdateExistingResourcePolicyWithTagsNotSupported: "abandon",
}

// Create implements ovm.Provider.
func (p *Provider) Create(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	if a.ExternalRef == "" {
		if r, found, err := p.findExisting(ctx, a); err != nil || found {
			return r, err
		}
		return p.startCreate(ctx, a)
	}
	out, err := p.c.Orgs.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: aws.String(a.ExternalRef)})
	var nf *types.CreateAccountStatusNotFoundException
	if errors.As(err, &nf) {
		// Not (or no longer) known by its reference: find the account or
		// its request the other ways before creating anything.
		if r, found, err := p.findExisting(ctx, a); err != nil || found {
			return r, err
		}
		return p.startCreate(ctx, a)
	}
	if err != nil {
		return ovm.StepResult{}, fmt.Errorf("describe create account status %s: %w", a.ExternalRef, err)
	}
	return p.createResult(ctx, a, out.CreateAccountStatus)
}

// createResult turns a create request's status into a step result.
func (p *Provider) createResult(ctx context.Context, a *ovm.Account, st *types.CreateAccountStatus) (ovm.StepResult, error) {
	ref := deref(st.Id)
	switch st.State {
	case types.CreateAccountStateSucceeded:
		return ovm.StepResult{Status: ovm.StepDone, ExternalRef: ref, AWSAccountID: deref(st.AccountId)}, nil
	case types.CreateAccountStateInProgress:
		r := ovm.Pending(p.cfg.PollInterval, "CreateAccount in progress")
		r.ExternalRef = ref
		return r, nil
	case types.CreateAccountStateFailed:
	default:
		return ovm.StepResult{}, fmt.Errorf("create request %s has unknown state %q", ref, st.State)
	}
	reason := string(st.FailureReason)
	switch failureReasons[st.FailureReason] {
	case "retry":
		// No account was made; a new request may succeed. Look first: a
		// concurrent modification may hide an earlier request that worked.
		if r, found, err := p.findExisting(ctx, a); err != nil || found {
			return r, err
		}
		n, _ := strconv.Atoi(a.Progress[progressRequests])
		if n >= maxCreateRequests {
			return ovm.Failed(fmt.Sprintf("CreateAccount failed %d times, last: %s", n, reason)), nil
		}
		if a.Progress[progressFailedRef] != ref {
			// Wait before the new request; remember which one failed.
			r := ovm.Pending(p.cfg.PollInterval<<min(n, 6), "CreateAccount failed with "+reason+"; a new request follows")
			r.Progress = map[string]string{progressFailedRef: ref}
			return r, nil
		}
		return p.startCreate(ctx, a)
	case "quarantine":
		r := ovm.Failed("CreateAccount failed: " + reason + " (an AWS account may exist: check before retiring)")
		r.AccountMayExist = true
		return r, nil
	default:
		if st.FailureReason == types.CreateAccountFailureReasonEmailAlreadyExists {
			// Ours, from an earlier request? Then it is not a failure.
			if r, found, err := p.findExisting(ctx, a); err != nil || found {
				return r, err
			}
		}
		if reason == "" {
			reason = "no failure reason given"
		}
		return ovm.Failed("CreateAccount failed: " + reason), nil
	}
}

// startCreate sends a new CreateAccount request for a.
func (p *Provider) startCreate(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	tags := []types.Tag{
		{Key: aws.String(TagAccountID), Value: aws.String(a.ID)},
		{Key: aws.String(TagPool), Value: aws.String(a.Pool)},
		{Key: aws.String(TagManagedBy), Value: aws.String("ovm")},
	}
	for k, v := range p.cfg.Tags {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := p.c.Orgs.CreateAccount(ctx, &organizations.CreateAccountInput{
		Email: aws.String(a.Email), AccountName: aws.String(a.Name), RoleName: aws.String(p.cfg.CreationRole),
		IamUserAccessToBilling: types.IAMUserAccessToBillingAllow, Tags: tags,
	})
	var cv *types.ConstraintViolationException
	if errors.As(err, &cv) {
		return ovm.StepResult{}, fmt.Errorf("CreateAccount refused (%s): will retry: %w", cv.Reason, err)
	}
	if err != nil {
		return ovm.StepResult{}, fmt.Errorf("CreateAccount: %w", err)
	}
	n, _ := strconv.Atoi(a.Progress[progressRequests])
	r, err := p.createResult(ctx, a, out.CreateAccountStatus)
	if r.Progress == nil {
		r.Progress = map[string]string{}
	}
	r.Progress[progressRequests] = strconv.Itoa(n + 1)
	if r.Status == ovm.StepDone || r.Status == ovm.StepPending {
		p.log.Info("CreateAccount requested", ovm.LogAccountID, a.ID, "request_id", r.ExternalRef)
	}
	return r, err
}

// findExisting looks for a's account or create request: in-progress or
// succeeded requests by account name, then accounts by e-mail.
func (p *Provider) findExisting(ctx context.Context, a *ovm.Account) (ovm.StepResult, bool, error) {
	pages := organizations.NewListCreateAccountStatusPaginator(p.c.Orgs, &organizations.ListCreateAccountStatusInput{
		States: []types.CreateAccountState{types.CreateAccountStateInProgress, types.CreateAccountStateSucceeded},
	}, func(o *organizations.ListCreateAccountStatusPaginatorOptions) { o.StopOnDuplicateToken = true })
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return ovm.StepResult{}, false, fmt.Errorf("list create account status: %w", err)
		}
		for i := range page.CreateAccountStatuses {
			st := &page.CreateAccountStatuses[i]
			if deref(st.AccountName) == a.Name {
				r, err := p.createResult(ctx, a, st)
				return r, err == nil, err
			}
		}
	}
	acct, err := p.accountByEmail(ctx, a.Email)
	if err != nil || acct == nil {
		return ovm.StepResult{}, false, err
	}
	return ovm.StepResult{Status: ovm.StepDone, ExternalRef: "account:" + deref(acct.Id), AWSAccountID: deref(acct.Id)}, true, nil
}

// accountByEmail finds the organization's account with e-mail email.
func (p *Provider) accountByEmail(ctx context.Context, email string) (*types.Account, error) {
	pages := organizations.NewListAccountsPaginator(p.c.Orgs, &organizations.ListAccountsInput{},
		func(o *organizations.ListAccountsPaginatorOptions) { o.StopOnDuplicateToken = true })
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		for i := range page.Accounts {
			if strings.EqualFold(deref(page.Accounts[i].Email), email) {
				return &page.Accounts[i], nil
			}
		}
	}
	return nil, nil
}
