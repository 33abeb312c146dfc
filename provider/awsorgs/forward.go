package awsorgs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/spend/cloudtrail"
)

// The spend forwarding (docs/spend.md): in every enabled Region of the
// account, a rule on the default bus sends the CloudTrail events of the
// calls OVM prices to OVM's bus (spend.event_bus_arn), through a role that
// EventBridge assumes and that may only put events on that bus. The
// bootstrap sets them up; a cleaning pass keeps the role and sets the rules
// up again; a closed account takes them with it.
const (
	ForwardRule = ovm.SpendForwardRule
	ForwardRole = ovm.SpendForwardRole
)

// eventsAPI is the part of EventBridge the forwarding uses.
type eventsAPI interface {
	PutRule(context.Context, *eventbridge.PutRuleInput, ...func(*eventbridge.Options)) (*eventbridge.PutRuleOutput, error)
	PutTargets(context.Context, *eventbridge.PutTargetsInput, ...func(*eventbridge.Options)) (*eventbridge.PutTargetsOutput, error)
}

// forwardPattern is the rule's event pattern.
func forwardPattern() string {
	b, _ := json.Marshal(map[string]any{"detail-type": []string{cloudtrail.DetailType}, "source": cloudtrail.Sources,
		"detail": map[string]any{"eventName": cloudtrail.EventNames}})
	return string(b)
}

// ensureForwarding sets the forwarding up in the account creds act in.
func (p *Provider) ensureForwarding(ctx context.Context, accountID string, creds aws.CredentialsProvider) error {
	if p.cfg.SpendBus == "" {
		return nil
	}
	return EnsureForwarding(ctx, p.c, accountID, p.cfg.SpendBus, p.cfg.Region, creds)
}

// EnsureForwarding sets the spend forwarding to bus up in account
// accountID, which creds act in: the role, and the rule in every Region
// enabled there (listed from home, default us-east-1). It converges when
// run again. The signup provider's management accounts use it through
// their vended role.
func EnsureForwarding(ctx context.Context, c *Clients, accountID, bus, home string, creds aws.CredentialsProvider) error {
	if c.EventsFor == nil || c.EC2For == nil || c.IAMFor == nil {
		return errors.New("no EventBridge client")
	}
	roleARN, err := ensureForwardRole(ctx, c.IAMFor(creds), accountID, bus)
	if err != nil {
		return fmt.Errorf("role %s: %w", ForwardRole, err)
	}
	if home == "" {
		home = "us-east-1"
	}
	regions, err := c.EC2For(creds, home).DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return fmt.Errorf("list the account's Regions: %w", err)
	}
	for _, r := range regions.Regions {
		region := aws.ToString(r.RegionName)
		ev := c.EventsFor(creds, region)
		if _, err := ev.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(ForwardRule), EventPattern: aws.String(forwardPattern()),
			State: ebtypes.RuleStateEnabled, Description: aws.String("OVM: the lessee's priced calls, to OVM's spend bus")}); err != nil {
			return fmt.Errorf("rule in %s: %w", region, err)
		}
		out, err := ev.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(ForwardRule),
			Targets: []ebtypes.Target{{Id: aws.String("ovm"), Arn: aws.String(bus), RoleArn: aws.String(roleARN)}}})
		if err != nil {
			return fmt.Errorf("rule target in %s: %w", region, err)
		}
		if out.FailedEntryCount > 0 {
			return fmt.Errorf("rule target in %s refused: %s", region, aws.ToString(out.FailedEntries[0].ErrorMessage))
		}
	}
	return nil
}

// ensureForwardRole creates the role EventBridge forwards with, or puts
// its trust and policy back, and returns its ARN.
func ensureForwardRole(ctx context.Context, c iamAPI, accountID, bus string) (string, error) {
	trust, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole",
		"Condition": map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": accountID},
			// only the forwarding rule, not any rule of the account
			"ArnLike": map[string]any{"aws:SourceArn": "arn:*:events:*:" + accountID + ":rule/" + ForwardRule}}}}})
	policy, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Action": "events:PutEvents", "Resource": bus}}})
	name := aws.String(ForwardRole)
	var arn string
	got, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: name})
	var nf *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nf):
		made, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: name, AssumeRolePolicyDocument: aws.String(string(trust)),
			Description: aws.String("OVM: EventBridge forwards the priced calls to OVM's spend bus")})
		if err != nil {
			return "", err
		}
		arn = aws.ToString(made.Role.Arn)
	case err != nil:
		return "", err
	default:
		arn = aws.ToString(got.Role.Arn)
		if _, err := c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: name, PolicyDocument: aws.String(string(trust))}); err != nil {
			return "", err
		}
	}
	if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: name, PolicyName: aws.String("forward"),
		PolicyDocument: aws.String(string(policy))}); err != nil {
		return "", err
	}
	return arn, nil
}
