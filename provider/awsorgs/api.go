package awsorgs

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/account"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/opensearch"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// orgsAPI is the part of AWS Organizations the provider uses.
type orgsAPI interface {
	DescribeOrganization(context.Context, *organizations.DescribeOrganizationInput, ...func(*organizations.Options)) (*organizations.DescribeOrganizationOutput, error)
	CreateAccount(context.Context, *organizations.CreateAccountInput, ...func(*organizations.Options)) (*organizations.CreateAccountOutput, error)
	DescribeCreateAccountStatus(context.Context, *organizations.DescribeCreateAccountStatusInput, ...func(*organizations.Options)) (*organizations.DescribeCreateAccountStatusOutput, error)
	ListCreateAccountStatus(context.Context, *organizations.ListCreateAccountStatusInput, ...func(*organizations.Options)) (*organizations.ListCreateAccountStatusOutput, error)
	ListAccounts(context.Context, *organizations.ListAccountsInput, ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
	DescribeAccount(context.Context, *organizations.DescribeAccountInput, ...func(*organizations.Options)) (*organizations.DescribeAccountOutput, error)
	CloseAccount(context.Context, *organizations.CloseAccountInput, ...func(*organizations.Options)) (*organizations.CloseAccountOutput, error)
	ListParents(context.Context, *organizations.ListParentsInput, ...func(*organizations.Options)) (*organizations.ListParentsOutput, error)
	MoveAccount(context.Context, *organizations.MoveAccountInput, ...func(*organizations.Options)) (*organizations.MoveAccountOutput, error)
	ListTagsForResource(context.Context, *organizations.ListTagsForResourceInput, ...func(*organizations.Options)) (*organizations.ListTagsForResourceOutput, error)
	ListRoots(context.Context, *organizations.ListRootsInput, ...func(*organizations.Options)) (*organizations.ListRootsOutput, error)
	// The retiring OU's SCP.
	ListPolicies(context.Context, *organizations.ListPoliciesInput, ...func(*organizations.Options)) (*organizations.ListPoliciesOutput, error)
	ListPoliciesForTarget(context.Context, *organizations.ListPoliciesForTargetInput, ...func(*organizations.Options)) (*organizations.ListPoliciesForTargetOutput, error)
	CreatePolicy(context.Context, *organizations.CreatePolicyInput, ...func(*organizations.Options)) (*organizations.CreatePolicyOutput, error)
	DescribePolicy(context.Context, *organizations.DescribePolicyInput, ...func(*organizations.Options)) (*organizations.DescribePolicyOutput, error)
	UpdatePolicy(context.Context, *organizations.UpdatePolicyInput, ...func(*organizations.Options)) (*organizations.UpdatePolicyOutput, error)
	AttachPolicy(context.Context, *organizations.AttachPolicyInput, ...func(*organizations.Options)) (*organizations.AttachPolicyOutput, error)
	// Templates' guardrails.
	DetachPolicy(context.Context, *organizations.DetachPolicyInput, ...func(*organizations.Options)) (*organizations.DetachPolicyOutput, error)
	// Guardrail versions no lease uses any more (CollectGuardrails).
	ListTargetsForPolicy(context.Context, *organizations.ListTargetsForPolicyInput, ...func(*organizations.Options)) (*organizations.ListTargetsForPolicyOutput, error)
	TagResource(context.Context, *organizations.TagResourceInput, ...func(*organizations.Options)) (*organizations.TagResourceOutput, error)
	UntagResource(context.Context, *organizations.UntagResourceInput, ...func(*organizations.Options)) (*organizations.UntagResourceOutput, error)
	DeletePolicy(context.Context, *organizations.DeletePolicyInput, ...func(*organizations.Options)) (*organizations.DeletePolicyOutput, error)
}

// stsAPI is the part of STS the provider uses.
type stsAPI interface {
	AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// iamAPI is the part of IAM the provider uses inside a member account.
type iamAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	UpdateAssumeRolePolicy(context.Context, *iam.UpdateAssumeRolePolicyInput, ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	AttachRolePolicy(context.Context, *iam.AttachRolePolicyInput, ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
	ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	DetachRolePolicy(context.Context, *iam.DetachRolePolicyInput, ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
	ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	PutRolePolicy(context.Context, *iam.PutRolePolicyInput, ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	ListAccountAliases(context.Context, *iam.ListAccountAliasesInput, ...func(*iam.Options)) (*iam.ListAccountAliasesOutput, error)
	CreateAccountAlias(context.Context, *iam.CreateAccountAliasInput, ...func(*iam.Options)) (*iam.CreateAccountAliasOutput, error)
}

// accountAPI is the part of the Account Management API the provider uses.
type accountAPI interface {
	PutAlternateContact(context.Context, *account.PutAlternateContactInput, ...func(*account.Options)) (*account.PutAlternateContactOutput, error)
}

// Clients are the AWS clients of the management account, and makers of
// clients for credentials assumed in member accounts.
type Clients struct {
	Orgs    orgsAPI
	STS     stsAPI
	Account accountAPI
	// IAMFor and STSFor make clients acting with creds.
	IAMFor func(creds aws.CredentialsProvider) iamAPI
	STSFor func(creds aws.CredentialsProvider) stsAPI
	// EC2For makes an EC2 client acting with creds in region (the spend
	// sweep).
	EC2For func(creds aws.CredentialsProvider, region string) ec2API
	// EventsFor makes an EventBridge client acting with creds in region
	// (the spend forwarding).
	EventsFor func(creds aws.CredentialsProvider, region string) eventsAPI
	// RDSFor makes an RDS client acting with creds in region (a freeze
	// that stops what bills, the spend sweep).
	RDSFor func(creds aws.CredentialsProvider, region string) rdsAPI
	// ELBFor, EKSFor, SageMakerFor and OpenSearchFor make clients acting
	// with creds in region (the spend sweep; nil: that type is not swept).
	ELBFor        func(creds aws.CredentialsProvider, region string) elbAPI
	EKSFor        func(creds aws.CredentialsProvider, region string) eksAPI
	SageMakerFor  func(creds aws.CredentialsProvider, region string) sagemakerAPI
	OpenSearchFor func(creds aws.CredentialsProvider, region string) opensearchAPI
}

// retryer retries what Organizations asks to be retried: throttling
// (TooManyRequestsException, by the standard retryer) and
// ConcurrentModificationException, a bounded number of times.
func retryer() aws.Retryer {
	return retry.AddWithErrorCodes(retry.AddWithMaxAttempts(retry.NewStandard(), 6), "ConcurrentModificationException")
}

// NewClients makes the real AWS clients from cfg (region, credentials and,
// for tests, BaseEndpoint). Requests time out after 30 seconds.
func NewClients(cfg aws.Config) *Clients {
	cfg = cfg.Copy()
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	cfg.Retryer = retryer
	withCreds := func(creds aws.CredentialsProvider) aws.Config {
		c := cfg.Copy()
		c.Credentials = aws.NewCredentialsCache(creds)
		return c
	}
	return &Clients{
		Orgs:    organizations.NewFromConfig(cfg),
		STS:     sts.NewFromConfig(cfg),
		Account: account.NewFromConfig(cfg),
		IAMFor:  func(creds aws.CredentialsProvider) iamAPI { return iam.NewFromConfig(withCreds(creds)) },
		STSFor:  func(creds aws.CredentialsProvider) stsAPI { return sts.NewFromConfig(withCreds(creds)) },
		EC2For: func(creds aws.CredentialsProvider, region string) ec2API {
			return ec2.NewFromConfig(withCreds(creds), func(o *ec2.Options) { o.Region = region })
		},
		EventsFor: func(creds aws.CredentialsProvider, region string) eventsAPI {
			return eventbridge.NewFromConfig(withCreds(creds), func(o *eventbridge.Options) { o.Region = region })
		},
		RDSFor: func(creds aws.CredentialsProvider, region string) rdsAPI {
			return rds.NewFromConfig(withCreds(creds), func(o *rds.Options) { o.Region = region })
		},
		ELBFor: func(creds aws.CredentialsProvider, region string) elbAPI {
			return elb.NewFromConfig(withCreds(creds), func(o *elb.Options) { o.Region = region })
		},
		EKSFor: func(creds aws.CredentialsProvider, region string) eksAPI {
			return eks.NewFromConfig(withCreds(creds), func(o *eks.Options) { o.Region = region })
		},
		SageMakerFor: func(creds aws.CredentialsProvider, region string) sagemakerAPI {
			return sagemaker.NewFromConfig(withCreds(creds), func(o *sagemaker.Options) { o.Region = region })
		},
		OpenSearchFor: func(creds aws.CredentialsProvider, region string) opensearchAPI {
			return opensearch.NewFromConfig(withCreds(creds), func(o *opensearch.Options) { o.Region = region })
		},
	}
}
