package awsorgs

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/providertest"
)

// TestConformanceAgainstTheFake runs the provider's steps through what moto
// cannot show (creations IN_PROGRESS, closures PENDING_CLOSURE). The fake
// keeps no inline policies and wipes nothing, so the provider runs as a
// bare ovm.Provider here: Access and Cleaner are exercised against moto
// (TestConformanceAgainstMoto).
func TestConformanceAgainstTheFake(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		f := newFakeAWS()
		f.inProgressPolls, f.pendingPolls = 2, 2
		in := newInjector()
		clock := clocktest.New(t0)
		return &providertest.Harness{
			Provider:         struct{ ovm.Provider }{newProvider(t, Config{PollInterval: time.Second}, in.wrap(f.clients()), clock)},
			Advance:          clock.Advance,
			FailNext:         in.FailNext,
			FailDefinitively: in.FailDefinitively,
		}
	})
}

func fakeProvider(t *testing.T, f *fakeAWS, cfg Config) (*Provider, *ovm.Account) {
	p := newProvider(t, cfg, f.clients(), clocktest.New(t0))
	a := providertest.NewAccount(p)
	a.StateChangedAt = t0
	return p, a
}

func TestACreationInProgressIsPolledUntilItSucceeds(t *testing.T) {
	f := newFakeAWS()
	f.inProgressPolls = 3
	p, a := fakeProvider(t, f, Config{PollInterval: 7 * time.Second})
	ctx := context.Background()
	r, err := p.Create(ctx, a)
	if err != nil || r.Status != ovm.StepPending || r.ExternalRef == "" || r.Wait != 7*time.Second || r.Progress[progressRequests] != "1" {
		t.Fatalf("start: %+v %v", r, err)
	}
	a.ExternalRef = r.ExternalRef
	for i := range 3 {
		if r, err = p.Create(ctx, a); err != nil || r.Status != ovm.StepPending {
			t.Fatalf("poll %d: %+v %v", i, r, err)
		}
	}
	if r, err = p.Create(ctx, a); err != nil || r.Status != ovm.StepDone || !ovm.IsAWSAccountID(r.AWSAccountID) {
		t.Fatalf("done: %+v %v", r, err)
	}
	if f.creates != 1 {
		t.Fatalf("%d CreateAccount calls, want 1", f.creates)
	}
}

// TestEveryFailureReasonHasAnOutcome covers the whole SDK enum.
func TestEveryFailureReasonHasAnOutcome(t *testing.T) {
	for _, reason := range types.CreateAccountFailureReason("").Values() {
		outcome, ok := failureReasons[reason]
		if !ok {
			t.Errorf("FailureReason %s has no outcome", reason)
			continue
		}
		t.Run(string(reason), func(t *testing.T) {
			f := newFakeAWS()
			f.failReason = reason
			p, a := fakeProvider(t, f, Config{})
			r, err := p.Create(context.Background(), a)
			switch outcome {
			case "abandon":
				if err != nil || r.Status != ovm.StepFailed || r.AccountMayExist || !strings.Contains(r.Reason, string(reason)) {
					t.Fatalf("got %+v %v, want a definitive failure without an account", r, err)
				}
			case "quarantine":
				if err != nil || r.Status != ovm.StepFailed || !r.AccountMayExist {
					t.Fatalf("got %+v %v, want a failure that may leave an account", r, err)
				}
			case "retry":
				if err != nil || r.Status != ovm.StepPending || r.Progress[progressFailedRef] == "" {
					t.Fatalf("got %+v %v, want a wait before a new request", r, err)
				}
				// After the wait, a new request is made and succeeds.
				a.ExternalRef = r.ExternalRef
				a.Progress = map[string]string{progressRequests: "1", progressFailedRef: r.Progress[progressFailedRef]}
				r, err = p.Create(context.Background(), a)
				if err != nil || r.Status != ovm.StepDone && r.Status != ovm.StepPending || r.ExternalRef == a.ExternalRef {
					t.Fatalf("new request: %+v %v", r, err)
				}
				if f.creates != 2 {
					t.Fatalf("%d CreateAccount calls, want 2", f.creates)
				}
			}
		})
	}
}

func TestRetriesOfTransientFailuresAreBounded(t *testing.T) {
	f := newFakeAWS()
	p, a := fakeProvider(t, f, Config{})
	a.ExternalRef = "car-x"
	f.requests["car-x"] = &fakeRequest{status: types.CreateAccountStatus{Id: &a.ExternalRef, State: types.CreateAccountStateFailed,
		FailureReason: types.CreateAccountFailureReasonConcurrentAccountModification}}
	a.Progress = map[string]string{progressRequests: "5", progressFailedRef: "car-x"}
	r, err := p.Create(context.Background(), a)
	if err != nil || r.Status != ovm.StepFailed || f.creates != 0 {
		t.Fatalf("after 5 requests: %+v %v (%d creates)", r, err, f.creates)
	}
}

func TestEmailAlreadyExistsForOurOwnAccountIsNotAFailure(t *testing.T) {
	f := newFakeAWS()
	p, a := fakeProvider(t, f, Config{})
	first, _ := p.Create(context.Background(), a)
	f.advance(f.requests[first.ExternalRef]) // it finished
	// A second request with the same e-mail (a bug elsewhere) fails ...
	f.requests["car-dup"] = &fakeRequest{status: types.CreateAccountStatus{State: types.CreateAccountStateFailed,
		FailureReason: types.CreateAccountFailureReasonEmailAlreadyExists}}
	a.ExternalRef = "car-dup"
	// ... but the account is ours: done, not failed.
	r, err := p.Create(context.Background(), a)
	if err != nil || r.Status != ovm.StepDone || r.AWSAccountID == "" {
		t.Fatalf("got %+v %v", r, err)
	}
}

func TestThrottlingIsATransientError(t *testing.T) {
	f := newFakeAWS()
	f.throttle = 10
	p, a := fakeProvider(t, f, Config{})
	_, err := p.Create(context.Background(), a)
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) {
		t.Fatalf("err = %v, want a transient TooManyRequestsException", err)
	}
	if f.creates != 0 {
		t.Fatal("a throttled lookup went on to create")
	}
}

func TestTooManyCreationsInFlightIsATransientError(t *testing.T) {
	f := newFakeAWS()
	f.inProgressPolls = 100
	p := newProvider(t, Config{}, f.clients(), clocktest.New(t0))
	for range 5 {
		if _, err := p.Create(context.Background(), providertest.NewAccount(p)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := p.Create(context.Background(), providertest.NewAccount(p))
	if err == nil || !strings.Contains(err.Error(), "ACCOUNT_CREATION_RATE_LIMIT_EXCEEDED") {
		t.Fatalf("sixth: %v", err)
	}
}

func ready(t *testing.T, p *Provider, a *ovm.Account) {
	t.Helper()
	ctx := context.Background()
	for range 10 {
		r, err := p.Create(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if r.ExternalRef != "" {
			a.ExternalRef = r.ExternalRef
		}
		if r.Status == ovm.StepDone {
			a.AWSAccountID = r.AWSAccountID
			return
		}
	}
	t.Fatal("not created")
}

func TestClosingWaitsForPendingClosureAndTheLedgerQuota(t *testing.T) {
	f := newFakeAWS()
	f.pendingPolls = 2
	clock := clocktest.New(t0)
	p := newProvider(t, Config{CloseQuota: 2}, f.clients(), clock)
	ctx := context.Background()
	var accts []*ovm.Account
	for range 3 {
		a := providertest.NewAccount(p)
		ready(t, p, a)
		accts = append(accts, a)
	}
	for i, a := range accts[:2] {
		r, err := p.Close(ctx, a)
		if err != nil || r.Status != ovm.StepPending || r.Reason != "close requested" {
			t.Fatalf("close %d: %+v %v", i, r, err)
		}
		// PENDING_CLOSURE is not closed.
		for range 2 {
			if r, err = p.Close(ctx, a); err != nil || r.Status != ovm.StepPending || r.Reason != "PENDING_CLOSURE" {
				t.Fatalf("pending closure: %+v %v", r, err)
			}
		}
		if r, err = p.Close(ctx, a); err != nil || r.Status != ovm.StepDone {
			t.Fatalf("suspended: %+v %v", r, err)
		}
	}
	// The ledger holds two closures: the third waits, it does not fail.
	r, err := p.Close(ctx, accts[2])
	if err != nil || r.Status != ovm.StepPending || !strings.Contains(r.Reason, "close quota: 2 of 2") || r.Wait != CloseWindow {
		t.Fatalf("third close: %+v %v", r, err)
	}
	if f.closes != 2 {
		t.Fatalf("%d CloseAccount calls, want 2", f.closes)
	}
	q, _ := p.CloseQuota(ctx)
	if q.Left() != 0 || !q.NextFreeAt.Equal(t0.Add(CloseWindow)) {
		t.Fatalf("quota %+v", q)
	}
	clock.Advance(CloseWindow)
	if r, err := p.Close(ctx, accts[2]); err != nil || r.Reason != "close requested" {
		t.Fatalf("after the window: %+v %v", r, err)
	}
}

func TestAnAWSQuotaRefusalIsAWaitAndAlreadyClosedIsSuccess(t *testing.T) {
	f := newFakeAWS()
	f.awsCloseQuota = -1 // AWS refuses every closure
	p, a := fakeProvider(t, f, Config{})
	ready(t, p, a)
	f.awsCloseQuota, f.closes = 1, 1
	r, err := p.Close(context.Background(), a)
	if err != nil || r.Status != ovm.StepPending || !strings.Contains(r.Reason, "CLOSE_ACCOUNT_QUOTA_EXCEEDED") || r.Wait != quotaRetry {
		t.Fatalf("quota refusal: %+v %v", r, err)
	}
	// Someone closed it meanwhile: AccountAlreadyClosed, then observed.
	f.accounts[a.AWSAccountID].acct.State = types.AccountStateActive
	f.awsCloseQuota = 0
	f.CloseAccount(context.Background(), nil2(a.AWSAccountID))
	r, err = p.Close(context.Background(), a)
	if err != nil || r.Status != ovm.StepDone {
		t.Fatalf("after an outside closure: %+v %v", r, err)
	}
}

func TestBootstrapWaitsForIAMThenGivesUp(t *testing.T) {
	f := newFakeAWS()
	clock := clocktest.New(t0)
	p := newProvider(t, Config{IAMWait: time.Minute}, f.clients(), clock)
	a := providertest.NewAccount(p)
	ready(t, p, a)
	a.StateChangedAt = t0
	delete(f.accounts[a.AWSAccountID].roles, "OrganizationAccountAccessRole") // IAM has not caught up
	r, err := p.Bootstrap(context.Background(), a)
	if err != nil || r.Status != ovm.StepPending || !strings.Contains(r.Reason, "IAM") {
		t.Fatalf("young account: %+v %v", r, err)
	}
	clock.Advance(2 * time.Minute)
	if _, err := p.Bootstrap(context.Background(), a); err == nil {
		t.Fatal("after IAMWait the refusal is not an error")
	}
	f.accounts[a.AWSAccountID].roles["OrganizationAccountAccessRole"] = "{}"
	r, err = p.Bootstrap(context.Background(), a)
	if err != nil || r.Status != ovm.StepDone {
		t.Fatalf("once IAM is ready: %+v %v", r, err)
	}
}

func TestBootstrapMovesToTheOUSetsBillingAndResetsTheTrust(t *testing.T) {
	f := newFakeAWS()
	p, a := fakeProvider(t, f, Config{ParentOU: "ou-abcd-12345678", TrustPrincipals: []string{"arn:aws:iam::111111111111:root"},
		BillingContact: &Contact{Name: "Ops", Title: "Billing", Email: "billing@example.com", Phone: "+1 555 0100"}})
	ready(t, p, a)
	fa := f.accounts[a.AWSAccountID]
	fa.roles["OVMCrossAccountRole"] = `{"Statement":[{"Principal":{"AWS":"arn:aws:iam::666666666666:root"}}]}` // a stale trust
	if r, err := p.Bootstrap(context.Background(), a); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("bootstrap: %+v %v", r, err)
	}
	if fa.parent != "ou-abcd-12345678" || !fa.billing || len(fa.aliases) != 1 {
		t.Fatalf("parent %s billing %v aliases %v", fa.parent, fa.billing, fa.aliases)
	}
	trust := fa.roles["OVMCrossAccountRole"]
	if strings.Contains(trust, "666666666666") || !strings.Contains(trust, "111111111111") || !strings.Contains(trust, "123456789012") {
		t.Fatalf("trust not reset: %s", trust)
	}
}
