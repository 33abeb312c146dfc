package awsorgs

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// injector wraps real (moto) or fake clients to inject the failures the
// provider conformance suite asks for: the next call of an operation fails
// transiently, or an operation fails for good with a reason.
type injector struct {
	mu         sync.Mutex
	next       map[string]bool
	definitive map[string]string
}

func newInjector() *injector {
	return &injector{next: map[string]bool{}, definitive: map[string]string{}}
}

var errInjected = errors.New("injected transient failure")

func (in *injector) take(op string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.next[op] {
		delete(in.next, op)
		return true
	}
	return false
}

func (in *injector) reason(op string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.definitive[op]
}

func (in *injector) FailNext(op string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.next[op] = true
}

func (in *injector) FailDefinitively(op, reason string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.definitive[op] = reason
}

// wrap returns clients whose calls go through the injector.
func (in *injector) wrap(c *Clients) *Clients {
	return &Clients{
		Orgs:    &injOrgs{orgsAPI: c.Orgs, in: in},
		STS:     c.STS,
		Account: c.Account,
		IAMFor:  func(creds aws.CredentialsProvider) iamAPI { return &injIAM{iamAPI: c.IAMFor(creds), in: in} },
		STSFor:  func(creds aws.CredentialsProvider) stsAPI { return &injSTS{stsAPI: c.STSFor(creds), in: in} },
	}
}

type injOrgs struct {
	orgsAPI
	in *injector
}

// CreateAccount fails with the injected reason the way AWS does: the
// request is accepted and its status is FAILED.
func (o *injOrgs) CreateAccount(ctx context.Context, in *organizations.CreateAccountInput, f ...func(*organizations.Options)) (*organizations.CreateAccountOutput, error) {
	if o.in.take("create") {
		return nil, errInjected
	}
	if r := o.in.reason("create"); r != "" {
		return &organizations.CreateAccountOutput{CreateAccountStatus: &types.CreateAccountStatus{Id: aws.String("car-injected"),
			AccountName: in.AccountName, State: types.CreateAccountStateFailed, FailureReason: types.CreateAccountFailureReason(r)}}, nil
	}
	return o.orgsAPI.CreateAccount(ctx, in, f...)
}

func (o *injOrgs) DescribeCreateAccountStatus(ctx context.Context, in *organizations.DescribeCreateAccountStatusInput, f ...func(*organizations.Options)) (*organizations.DescribeCreateAccountStatusOutput, error) {
	if o.in.take("create") {
		return nil, errInjected
	}
	return o.orgsAPI.DescribeCreateAccountStatus(ctx, in, f...)
}

func (o *injOrgs) DescribeAccount(ctx context.Context, in *organizations.DescribeAccountInput, f ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error) {
	if o.in.take("close") {
		return nil, errInjected
	}
	return o.orgsAPI.DescribeAccount(ctx, in, f...)
}

// AttachPolicy is a guard's call: injected after the effect, as a lost
// answer (the policy is attached; the retry must find it).
func (o *injOrgs) AttachPolicy(ctx context.Context, in *organizations.AttachPolicyInput, f ...func(*organizations.Options)) (*organizations.AttachPolicyOutput, error) {
	out, err := o.orgsAPI.AttachPolicy(ctx, in, f...)
	if err == nil && o.in.take("guard") {
		return nil, errInjected
	}
	return out, err
}

type injIAM struct {
	iamAPI
	in *injector
}

func (i *injIAM) GetRole(ctx context.Context, in *iam.GetRoleInput, f ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	if i.in.take("bootstrap") {
		return nil, errInjected
	}
	return i.iamAPI.GetRole(ctx, in, f...)
}

// PutRolePolicy is the deny of older sessions: a revocation's call.
func (i *injIAM) PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, f ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	if i.in.take("revoke") {
		return nil, errInjected
	}
	return i.iamAPI.PutRolePolicy(ctx, in, f...)
}

// ListRolePolicies is called by a cleaning pass's reset of the role.
func (i *injIAM) ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, f ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	if i.in.take("clean") {
		return nil, errInjected
	}
	return i.iamAPI.ListRolePolicies(ctx, in, f...)
}

type injSTS struct {
	stsAPI
	in *injector
}

// GetCallerIdentity answers from another account when bootstrap is to fail
// for good: the smoke test then proves the role is not the account's.
func (s *injSTS) GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, f ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	if s.in.reason("bootstrap") != "" {
		return &sts.GetCallerIdentityOutput{Account: aws.String("999999999999")}, nil
	}
	return s.stsAPI.GetCallerIdentity(ctx, in, f...)
}
