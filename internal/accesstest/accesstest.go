// Package accesstest reads, in moto, what an ovm.Access did to a vended
// role, for the harnesses of the provider conformance suite
// (provider/providertest): the principals the role trusts, whether its
// inline denies cover a session issued at a given time, and the account
// that credentials act in.
//
// It fills one gap of moto: moto keeps IAM documents but never evaluates
// them. Denied evaluates what OVM writes (a Deny, unconditional or under
// DateLessThan on aws:TokenIssueTime) the way IAM does, and refuses any
// other condition rather than guess.
package accesstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
)

// IAM is the part of IAM, in the vended role's account, the reads need.
type IAM interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListRolePolicies(context.Context, *iam.ListRolePoliciesInput, ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
}

type statement struct {
	Effect    string
	Action    any
	Principal any
	Condition map[string]map[string]any
}

// statements parses a policy document as IAM returns it (URL-encoded).
func statements(doc string) ([]statement, error) {
	if !strings.HasPrefix(strings.TrimSpace(doc), "{") {
		d, err := url.PathUnescape(doc)
		if err != nil {
			return nil, err
		}
		doc = d
	}
	var p struct{ Statement json.RawMessage }
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("policy %q: %w", doc, err)
	}
	var list []statement
	if err := json.Unmarshal(p.Statement, &list); err != nil {
		var one statement
		if err := json.Unmarshal(p.Statement, &one); err != nil {
			return nil, fmt.Errorf("policy %q: %w", doc, err)
		}
		list = []statement{one}
	}
	return list, nil
}

// strs reads a policy value that is a string or a list of strings.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Trusted returns the AWS principals role's trust allows to assume it,
// sorted.
func Trusted(ctx context.Context, c IAM, role string) ([]string, error) {
	out, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	if err != nil {
		return nil, err
	}
	stmts, err := statements(aws.ToString(out.Role.AssumeRolePolicyDocument))
	if err != nil {
		return nil, err
	}
	var ps []string
	for _, s := range stmts {
		if s.Effect != "Allow" || !slices.Contains(strs(s.Action), "sts:AssumeRole") {
			continue
		}
		if m, ok := s.Principal.(map[string]any); ok {
			ps = append(ps, strs(m["AWS"])...)
		}
	}
	slices.Sort(ps)
	return slices.Compact(ps), nil
}

// Denied reports whether role's inline policies deny every action to a
// session issued at issued.
func Denied(ctx context.Context, c IAM, role string, issued time.Time) (bool, error) {
	names, err := c.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	if err != nil {
		return false, err
	}
	for _, name := range names.PolicyNames {
		pol, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
		if err != nil {
			return false, err
		}
		stmts, err := statements(aws.ToString(pol.PolicyDocument))
		if err != nil {
			return false, err
		}
		for _, s := range stmts {
			if s.Effect != "Deny" || !slices.Contains(strs(s.Action), "*") {
				continue
			}
			applies, err := issuedBefore(s.Condition, issued)
			if err != nil {
				return false, fmt.Errorf("policy %s: %w", name, err)
			}
			if applies {
				return true, nil
			}
		}
	}
	return false, nil
}

// issuedBefore evaluates a condition block against a session's issue time.
func issuedBefore(cond map[string]map[string]any, issued time.Time) (bool, error) {
	if len(cond) == 0 {
		return true, nil
	}
	for op, keys := range cond {
		for key, v := range keys {
			t := strs(v)
			if op != "DateLessThan" || key != "aws:TokenIssueTime" || len(t) != 1 {
				return false, fmt.Errorf("condition %s %s: only DateLessThan aws:TokenIssueTime is evaluated", op, key)
			}
			at, err := time.Parse(time.RFC3339, t[0])
			if err != nil {
				return false, err
			}
			if !issued.Before(at) {
				return false, nil
			}
		}
	}
	return true, nil
}

// Account returns the account c act in, from STS at cfg's endpoint.
func Account(ctx context.Context, cfg aws.Config, c *ovm.Credentials) (string, error) {
	if c == nil {
		return "", errors.New("no credentials")
	}
	lc := cfg.Copy()
	lc.Credentials = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	out, err := sts.NewFromConfig(lc).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.Account), nil
}
