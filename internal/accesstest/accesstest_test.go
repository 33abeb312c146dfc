package accesstest

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// docs answers a role's trust and inline policies, URL-encoded as IAM does.
type docs struct {
	trust  string
	inline map[string]string
}

func (d docs) GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return &iam.GetRoleOutput{Role: &iamtypes.Role{AssumeRolePolicyDocument: aws.String(url.PathEscape(d.trust))}}, nil
}

func (d docs) ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	var names []string
	for n := range d.inline {
		names = append(names, n)
	}
	return &iam.ListRolePoliciesOutput{PolicyNames: names}, nil
}

func (d docs) GetRolePolicy(_ context.Context, in *iam.GetRolePolicyInput, _ ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	return &iam.GetRolePolicyOutput{PolicyDocument: aws.String(url.PathEscape(d.inline[*in.PolicyName]))}, nil
}

func TestTheDenyOfOlderSessionsIsEvaluatedAsIAMDoes(t *testing.T) {
	ctx := context.Background()
	end := time.Date(2026, 11, 30, 12, 34, 56, 500e6, time.UTC) // denies before 12:34:57
	d := docs{trust: roleaccess.TrustPolicy("arn:aws:iam::123456789012:root", "arn:aws:iam::210987654321:role/ci+x"),
		inline: map[string]string{roleaccess.PolicyName: roleaccess.RevokePolicy(end)}}
	for issued, want := range map[time.Time]bool{
		end.Add(-time.Hour): true, end: true, end.Add(499 * time.Millisecond): true,
		end.Add(500 * time.Millisecond): false, end.Add(time.Hour): false,
	} {
		if got, err := Denied(ctx, d, "r", issued); err != nil || got != want {
			t.Errorf("issued %s: denied %v (%v), want %v", issued.Format(time.RFC3339Nano), got, err, want)
		}
	}
	if got, err := Denied(ctx, docs{inline: map[string]string{"x": `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}`}}, "r", end); err != nil || !got {
		t.Errorf("an unconditional deny: %v %v", got, err)
	}
	if _, err := Denied(ctx, docs{inline: map[string]string{"x": `{"Statement":[{"Effect":"Deny","Action":"*","Condition":{"StringEquals":{"aws:SourceIp":"1.2.3.4"}}}]}`}}, "r", end); err == nil {
		t.Error("a condition it cannot evaluate gave an answer")
	}
	trusted, err := Trusted(ctx, d, "r")
	if err != nil || len(trusted) != 2 || trusted[0] != "arn:aws:iam::123456789012:root" || trusted[1] != "arn:aws:iam::210987654321:role/ci+x" {
		t.Fatalf("trusted %v %v", trusted, err)
	}
}
