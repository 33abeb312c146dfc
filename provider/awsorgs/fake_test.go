package awsorgs

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/account"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

// fakeAWS is an in-memory Organizations (with just enough STS, IAM and
// Account) for what moto cannot show. moto's CreateAccount is SUCCEEDED at
// once and never FAILED, it has no account or concurrency limit, CloseAccount
// goes straight to SUSPENDED with no quota, and it never throttles. The fake
// has knobs for each: creations stay IN_PROGRESS for a number of polls, fail
// with any FailureReason, more than five at once are refused, closures pass
// through PENDING_CLOSURE and hit a close quota, and calls can be throttled.
// Everything else is checked against moto.
type fakeAWS struct {
	mu sync.Mutex
	// Knobs.
	inProgressPolls int                              // DescribeCreateAccountStatus answers IN_PROGRESS this many times
	failReason      types.CreateAccountFailureReason // the next request FAILS with this reason
	pendingPolls    int                              // DescribeAccount answers PENDING_CLOSURE this many times
	awsCloseQuota   int                              // CloseAccount refuses beyond this many (0: no limit)
	throttle        int                              // the next n Organizations calls are throttled

	requests map[string]*fakeRequest
	accounts map[string]*fakeAccount
	closes   int
	creates  int // CreateAccount calls that reached the fake
	seq      int
}

type fakeRequest struct {
	status types.CreateAccountStatus
	polls  int
}

type fakeAccount struct {
	acct    types.Account
	tags    []types.Tag
	parent  string
	polls   int
	roles   map[string]string // name -> trust policy
	aliases []string
	billing bool
}

func newFakeAWS() *fakeAWS {
	f := &fakeAWS{requests: map[string]*fakeRequest{}, accounts: map[string]*fakeAccount{}}
	f.accounts["123456789012"] = &fakeAccount{acct: types.Account{Id: aws.String("123456789012"),
		Email: aws.String("management@example.com"), State: types.AccountStateActive}, roles: map[string]string{}}
	return f
}

func apiErr(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

// clients returns the provider's clients backed by the fake.
func (f *fakeAWS) clients() *Clients {
	return &Clients{
		Orgs:    f,
		STS:     &fakeSTS{f: f, account: "123456789012"},
		Account: f,
		IAMFor:  func(creds aws.CredentialsProvider) iamAPI { return &fakeIAM{f: f, creds: creds} },
		STSFor:  func(creds aws.CredentialsProvider) stsAPI { return &fakeSTS{f: f, creds: creds} },
	}
}

func (f *fakeAWS) throttled() error {
	if f.throttle > 0 {
		f.throttle--
		return &types.TooManyRequestsException{Message: aws.String("Rate exceeded")}
	}
	return nil
}

func (f *fakeAWS) DescribeOrganization(ctx context.Context, in *organizations.DescribeOrganizationInput, _ ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error) {
	return &organizations.DescribeOrganizationOutput{Organization: &types.Organization{Id: aws.String("o-fake"),
		MasterAccountId: aws.String("123456789012")}}, nil
}

func (f *fakeAWS) CreateAccount(ctx context.Context, in *organizations.CreateAccountInput, _ ...func(*organizations.Options)) (*organizations.CreateAccountOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.throttled(); err != nil {
		return nil, err
	}
	inProgress := 0
	for _, r := range f.requests {
		if r.status.State == types.CreateAccountStateInProgress {
			inProgress++
		}
	}
	if inProgress >= 5 {
		return nil, &types.ConstraintViolationException{Message: aws.String("too many creations"),
			Reason: types.ConstraintViolationExceptionReasonAccountCreationRateLimitExceeded}
	}
	f.creates++
	f.seq++
	id := fmt.Sprintf("car-%d", f.seq)
	r := &fakeRequest{status: types.CreateAccountStatus{Id: aws.String(id), AccountName: in.AccountName, State: types.CreateAccountStateInProgress}}
	for _, a := range f.accounts {
		if strings.EqualFold(deref(a.acct.Email), deref(in.Email)) {
			r.status.State, r.status.FailureReason = types.CreateAccountStateFailed, types.CreateAccountFailureReasonEmailAlreadyExists
		}
	}
	if f.failReason != "" {
		r.status.State, r.status.FailureReason = types.CreateAccountStateFailed, f.failReason
		f.failReason = ""
	}
	if r.status.State == types.CreateAccountStateInProgress {
		acctID := fmt.Sprintf("%012d", 200000000000+f.seq)
		r.status.AccountId = aws.String(acctID)
		f.accounts[acctID] = &fakeAccount{acct: types.Account{Id: aws.String(acctID), Email: in.Email, Name: in.AccountName,
			State: types.AccountStatePendingActivation}, tags: in.Tags, parent: "r-root", roles: map[string]string{deref(in.RoleName): "{}"}}
		r.polls = f.inProgressPolls
	}
	f.requests[id] = r
	st := r.status
	return &organizations.CreateAccountOutput{CreateAccountStatus: &st}, nil
}

func (f *fakeAWS) advance(r *fakeRequest) {
	if r.status.State != types.CreateAccountStateInProgress {
		return
	}
	if r.polls > 0 {
		r.polls--
		return
	}
	r.status.State = types.CreateAccountStateSucceeded
	f.accounts[deref(r.status.AccountId)].acct.State = types.AccountStateActive
}

func (f *fakeAWS) DescribeCreateAccountStatus(ctx context.Context, in *organizations.DescribeCreateAccountStatusInput, _ ...func(*organizations.Options)) (*organizations.DescribeCreateAccountStatusOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.throttled(); err != nil {
		return nil, err
	}
	r := f.requests[deref(in.CreateAccountRequestId)]
	if r == nil {
		return nil, &types.CreateAccountStatusNotFoundException{Message: aws.String("no such request")}
	}
	f.advance(r)
	st := r.status
	return &organizations.DescribeCreateAccountStatusOutput{CreateAccountStatus: &st}, nil
}

func (f *fakeAWS) ListCreateAccountStatus(ctx context.Context, in *organizations.ListCreateAccountStatusInput, _ ...func(*organizations.Options)) (*organizations.ListCreateAccountStatusOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.throttled(); err != nil {
		return nil, err
	}
	out := &organizations.ListCreateAccountStatusOutput{}
	for _, r := range f.requests {
		for _, s := range in.States {
			if r.status.State == s {
				out.CreateAccountStatuses = append(out.CreateAccountStatuses, r.status)
			}
		}
	}
	return out, nil
}

func (f *fakeAWS) ListAccounts(ctx context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.throttled(); err != nil {
		return nil, err
	}
	out := &organizations.ListAccountsOutput{}
	for _, a := range f.accounts {
		out.Accounts = append(out.Accounts, a.acct)
	}
	return out, nil
}

func (f *fakeAWS) DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, _ ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.throttled(); err != nil {
		return nil, err
	}
	a := f.accounts[deref(in.AccountId)]
	if a == nil {
		return nil, &types.AccountNotFoundException{Message: aws.String("no such account")}
	}
	if a.acct.State == types.AccountStatePendingClosure {
		if a.polls > 0 {
			a.polls--
		} else {
			a.acct.State = types.AccountStateSuspended
		}
	}
	acct := a.acct
	return &organizations.DescribeAccountOutput{Account: &acct}, nil
}

func (f *fakeAWS) CloseAccount(ctx context.Context, in *organizations.CloseAccountInput, _ ...func(*organizations.Options)) (*organizations.CloseAccountOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.throttled(); err != nil {
		return nil, err
	}
	a := f.accounts[deref(in.AccountId)]
	if a == nil {
		return nil, &types.AccountNotFoundException{Message: aws.String("no such account")}
	}
	if a.acct.State != types.AccountStateActive {
		return nil, &types.AccountAlreadyClosedException{Message: aws.String("already closed")}
	}
	if f.awsCloseQuota > 0 && f.closes >= f.awsCloseQuota {
		return nil, &types.ConstraintViolationException{Message: aws.String("close quota"),
			Reason: types.ConstraintViolationExceptionReasonCloseAccountQuotaExceeded}
	}
	f.closes++
	a.acct.State, a.polls = types.AccountStatePendingClosure, f.pendingPolls
	return &organizations.CloseAccountOutput{}, nil
}

func (f *fakeAWS) ListParents(ctx context.Context, in *organizations.ListParentsInput, _ ...func(*organizations.Options)) (*organizations.ListParentsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &organizations.ListParentsOutput{Parents: []types.Parent{{Id: aws.String(f.accounts[deref(in.ChildId)].parent)}}}, nil
}

func (f *fakeAWS) MoveAccount(ctx context.Context, in *organizations.MoveAccountInput, _ ...func(*organizations.Options)) (*organizations.MoveAccountOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[deref(in.AccountId)].parent = deref(in.DestinationParentId)
	return &organizations.MoveAccountOutput{}, nil
}

func (f *fakeAWS) ListTagsForResource(ctx context.Context, in *organizations.ListTagsForResourceInput, _ ...func(*organizations.Options)) (*organizations.ListTagsForResourceOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &organizations.ListTagsForResourceOutput{Tags: f.accounts[deref(in.ResourceId)].tags}, nil
}

func (f *fakeAWS) PutAlternateContact(ctx context.Context, in *account.PutAlternateContactInput, _ ...func(*account.Options)) (*account.PutAlternateContactOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accounts[deref(in.AccountId)].billing = true
	return &account.PutAlternateContactOutput{}, nil
}

// fakeSTS assumes roles that exist in the fake's accounts; the returned
// key id names the account, so clients made from it act there.
type fakeSTS struct {
	f       *fakeAWS
	account string
	creds   aws.CredentialsProvider
}

func (s *fakeSTS) caller(ctx context.Context) (string, error) {
	if s.creds == nil {
		return s.account, nil
	}
	c, err := s.creds.Retrieve(ctx)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(c.AccessKeyID, "ASIAFAKE"), nil
}

func (s *fakeSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	arn := deref(in.RoleArn) // arn:aws:iam::<id>:role/<name>
	parts := strings.SplitN(strings.TrimPrefix(arn, "arn:aws:iam::"), ":role/", 2)
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	a := s.f.accounts[parts[0]]
	if a == nil || a.roles[parts[1]] == "" {
		return nil, apiErr("AccessDenied", "not authorized to assume "+arn)
	}
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{AccessKeyId: aws.String("ASIAFAKE" + parts[0]),
		SecretAccessKey: aws.String("secret"), SessionToken: aws.String("token"), Expiration: aws.Time(t0.Add(1e12))}}, nil
}

func (s *fakeSTS) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, _ ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	acct, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	return &sts.GetCallerIdentityOutput{Account: aws.String(acct), Arn: aws.String("arn:aws:iam::" + acct + ":root")}, nil
}

// fakeIAM acts in the account its credentials belong to.
type fakeIAM struct {
	f     *fakeAWS
	creds aws.CredentialsProvider
}

func (i *fakeIAM) acct(ctx context.Context) (*fakeAccount, error) {
	acct, err := (&fakeSTS{f: i.f, creds: i.creds}).caller(ctx)
	if err != nil {
		return nil, err
	}
	return i.f.accounts[acct], nil
}

func (i *fakeIAM) GetRole(ctx context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	a, err := i.acct(ctx)
	if err != nil {
		return nil, err
	}
	i.f.mu.Lock()
	defer i.f.mu.Unlock()
	trust, ok := a.roles[deref(in.RoleName)]
	if !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("no role")}
	}
	return &iam.GetRoleOutput{Role: &iamtypes.Role{RoleName: in.RoleName, AssumeRolePolicyDocument: aws.String(trust),
		Arn: aws.String("arn:aws:iam::" + deref(a.acct.Id) + ":role/" + deref(in.RoleName))}}, nil
}

func (i *fakeIAM) CreateRole(ctx context.Context, in *iam.CreateRoleInput, _ ...func(*iam.Options)) (*iam.CreateRoleOutput, error) {
	a, err := i.acct(ctx)
	if err != nil {
		return nil, err
	}
	i.f.mu.Lock()
	defer i.f.mu.Unlock()
	a.roles[deref(in.RoleName)] = deref(in.AssumeRolePolicyDocument)
	return &iam.CreateRoleOutput{Role: &iamtypes.Role{Arn: aws.String("arn:aws:iam::" + deref(a.acct.Id) + ":role/" + deref(in.RoleName))}}, nil
}

func (i *fakeIAM) UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, _ ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error) {
	a, err := i.acct(ctx)
	if err != nil {
		return nil, err
	}
	i.f.mu.Lock()
	defer i.f.mu.Unlock()
	a.roles[deref(in.RoleName)] = deref(in.PolicyDocument)
	return &iam.UpdateAssumeRolePolicyOutput{}, nil
}

func (i *fakeIAM) AttachRolePolicy(ctx context.Context, in *iam.AttachRolePolicyInput, _ ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error) {
	return &iam.AttachRolePolicyOutput{}, nil
}

func (i *fakeIAM) ListAccountAliases(ctx context.Context, in *iam.ListAccountAliasesInput, _ ...func(*iam.Options)) (*iam.ListAccountAliasesOutput, error) {
	a, err := i.acct(ctx)
	if err != nil {
		return nil, err
	}
	i.f.mu.Lock()
	defer i.f.mu.Unlock()
	return &iam.ListAccountAliasesOutput{AccountAliases: a.aliases}, nil
}

func (i *fakeIAM) CreateAccountAlias(ctx context.Context, in *iam.CreateAccountAliasInput, _ ...func(*iam.Options)) (*iam.CreateAccountAliasOutput, error) {
	a, err := i.acct(ctx)
	if err != nil {
		return nil, err
	}
	i.f.mu.Lock()
	defer i.f.mu.Unlock()
	a.aliases = []string{deref(in.AccountAlias)}
	return &iam.CreateAccountAliasOutput{}, nil
}

func (i *fakeIAM) ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	return &iam.ListAttachedRolePoliciesOutput{}, nil
}

func (i *fakeIAM) DetachRolePolicy(ctx context.Context, in *iam.DetachRolePolicyInput, _ ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error) {
	return &iam.DetachRolePolicyOutput{}, nil
}

func (i *fakeIAM) ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	return &iam.ListRolePoliciesOutput{}, nil
}

func (i *fakeIAM) DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, _ ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error) {
	return &iam.DeleteRolePolicyOutput{}, nil
}

func (i *fakeIAM) PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	return &iam.PutRolePolicyOutput{}, nil
}

// The retiring OU and its SCP are shown against moto, not by the fake.
var errNotInFake = apiErr("NotInTheFake", "the retiring OU is tested against moto")

func (f *fakeAWS) ListRoots(context.Context, *organizations.ListRootsInput, ...func(*organizations.Options)) (*organizations.ListRootsOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) ListPolicies(context.Context, *organizations.ListPoliciesInput, ...func(*organizations.Options)) (*organizations.ListPoliciesOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) ListPoliciesForTarget(context.Context, *organizations.ListPoliciesForTargetInput, ...func(*organizations.Options)) (*organizations.ListPoliciesForTargetOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) CreatePolicy(context.Context, *organizations.CreatePolicyInput, ...func(*organizations.Options)) (*organizations.CreatePolicyOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) DescribePolicy(context.Context, *organizations.DescribePolicyInput, ...func(*organizations.Options)) (*organizations.DescribePolicyOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) UpdatePolicy(context.Context, *organizations.UpdatePolicyInput, ...func(*organizations.Options)) (*organizations.UpdatePolicyOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) AttachPolicy(context.Context, *organizations.AttachPolicyInput, ...func(*organizations.Options)) (*organizations.AttachPolicyOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) DetachPolicy(context.Context, *organizations.DetachPolicyInput, ...func(*organizations.Options)) (*organizations.DetachPolicyOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) ListTargetsForPolicy(context.Context, *organizations.ListTargetsForPolicyInput, ...func(*organizations.Options)) (*organizations.ListTargetsForPolicyOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) TagResource(context.Context, *organizations.TagResourceInput, ...func(*organizations.Options)) (*organizations.TagResourceOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) UntagResource(context.Context, *organizations.UntagResourceInput, ...func(*organizations.Options)) (*organizations.UntagResourceOutput, error) {
	return nil, errNotInFake
}

func (f *fakeAWS) DeletePolicy(context.Context, *organizations.DeletePolicyInput, ...func(*organizations.Options)) (*organizations.DeletePolicyOutput, error) {
	return nil, errNotInFake
}
