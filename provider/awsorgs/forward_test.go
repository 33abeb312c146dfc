package awsorgs

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/providertest"
)

// The bootstrap sets up the spend forwarding in every enabled Region of
// the account: the rule's pattern names the priced calls, its target is
// OVM's bus through a role that may only put events there.
func TestTheBootstrapForwardsTheAccountsPricedCallsToOVMsBus(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	c := NewClients(cfg)
	const bus = "arn:aws:events:us-east-1:123456789012:event-bus/ovm-spend"
	p := newProvider(t, Config{SpendBus: bus}, c, ovm.SystemClock())
	a := providertest.NewAccount(p)
	r, err := p.Create(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	a.AWSAccountID = r.AWSAccountID
	for range 2 { // twice: it converges
		if r, err := p.Bootstrap(ctx, a); err != nil || r.Status != ovm.StepDone {
			t.Fatalf("bootstrap: %+v %v", r, err)
		}
	}
	creds := p.assume(ovm.RoleARN(a.AWSAccountID, "OrganizationAccountAccessRole"), "verify", c.STS)
	member := cfg.Copy()
	member.Credentials = creds
	role, err := iam.NewFromConfig(member).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(ForwardRole)})
	trust, _ := url.QueryUnescape(aws.ToString(role.Role.AssumeRolePolicyDocument))
	if err != nil || !strings.Contains(trust, "events.amazonaws.com") || !strings.Contains(trust, ":rule/"+ForwardRule) {
		t.Fatalf("forwarding role: %v %v", role, err)
	}
	pol, err := iam.NewFromConfig(member).GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(ForwardRole), PolicyName: aws.String("forward")})
	doc, _ := url.QueryUnescape(aws.ToString(pol.PolicyDocument)) // IAM answers it URL-encoded
	if err != nil || !strings.Contains(doc, bus) || !strings.Contains(doc, "events:PutEvents") {
		t.Fatalf("forwarding role's policy: %v %v", pol, err)
	}
	for _, region := range []string{"us-east-1", "eu-west-1", "ap-southeast-2"} {
		ev := eventbridge.NewFromConfig(member, func(o *eventbridge.Options) { o.Region = region })
		rule, err := ev.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(ForwardRule)})
		if err != nil || !strings.Contains(aws.ToString(rule.EventPattern), "RunInstances") || !strings.Contains(aws.ToString(rule.EventPattern), "AWS API Call via CloudTrail") {
			t.Fatalf("rule in %s: %+v %v", region, rule, err)
		}
		targets, err := ev.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String(ForwardRule)})
		if err != nil || len(targets.Targets) != 1 || aws.ToString(targets.Targets[0].Arn) != bus || aws.ToString(targets.Targets[0].RoleArn) != aws.ToString(role.Role.Arn) {
			t.Fatalf("targets in %s: %+v %v", region, targets, err)
		}
	}
}
