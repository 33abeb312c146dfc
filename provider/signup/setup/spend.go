package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/awsorgs"
)

// A sign-up pool's spend (docs/spend.md). A management account is outside
// OVM's organization: the organization's trail does not log its calls, and
// OVM's bus, which allows the organization, refuses its events. So, with
// spend.event_bus_arn set, its bootstrap sets up, through the vended role:
//
//   - the trail SpendTrail (multi-Region, management events) into a bucket
//     of the account's own, whose objects expire after a day: EventBridge
//     has CloudTrail's events only from an account with a trail;
//   - the forwarding of an organizations pool (awsorgs.EnsureForwarding);
//
// and, with OVM's own credentials, a statement on OVM's bus that lets the
// account put events there (busStatement), taken off before the account is
// closed.
const (
	// SpendTrail is the trail OVM makes in a management account.
	SpendTrail = ovm.SpendTrail
	// spendTrailBucketPrefix starts the trail's bucket's name; the
	// account id ends it.
	spendTrailBucketPrefix = ovm.SpendTrailBucketPrefix
)

// spendSetup sets a management account's spend up, and takes OVM's bus
// statement off again.
type spendSetup struct {
	// ac is OVM's own AWS configuration; clients are made from it.
	ac      aws.Config
	clients *awsorgs.Clients
	// bus is spend.event_bus_arn; home the Region the trail and its
	// bucket are made in.
	bus, home string
	// path makes S3 path-style requests (an endpoint such as moto).
	path bool
}

// busStatement is the id of account's statement in OVM's bus's policy.
func busStatement(account string) string { return "ovm-signup-" + account }

// in is an AWS configuration acting through roleARN (a session of its own,
// named session, without a source identity: OVM's, not a lessee's) in the
// home Region.
func (s *spendSetup) in(roleARN, session string) aws.Config {
	c := s.ac.Copy()
	c.Region = s.home
	c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(s.ac), roleARN,
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = session }))
	return c
}

// setUp makes account (its vended role roleARN) send its priced calls to
// OVM's bus. It converges when run again.
func (s *spendSetup) setUp(ctx context.Context, account, roleARN string) error {
	c := s.in(roleARN, "ovm-spend")
	if err := s.trail(ctx, c, account); err != nil {
		return fmt.Errorf("the trail %s: %w", SpendTrail, err)
	}
	// OVM's bus accepts the account's events before any is forwarded.
	if err := s.permit(ctx, account); err != nil {
		return fmt.Errorf("OVM's bus: %w", err)
	}
	return awsorgs.EnsureForwarding(ctx, s.clients, account, s.bus, s.home, c.Credentials)
}

// trail makes the bucket, its policy and lifetime, and the trail, logging.
func (s *spendSetup) trail(ctx context.Context, c aws.Config, account string) error {
	partition := ovm.Partition(s.home)
	bucket := spendTrailBucketPrefix + account
	trailARN := "arn:" + partition + ":cloudtrail:" + s.home + ":" + account + ":trail/" + SpendTrail
	sc := s3.NewFromConfig(c, func(o *s3.Options) { o.UsePathStyle = s.path })
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if s.home != "us-east-1" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(s.home)}
	}
	var owned *s3types.BucketAlreadyOwnedByYou
	if _, err := sc.CreateBucket(ctx, in); err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create the bucket %s: %w", bucket, err)
	}
	// CloudTrail's documented bucket policy, limited to this trail
	// (CloudTrail User Guide, "Amazon S3 bucket policy for CloudTrail").
	policy, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": map[string]string{"Service": "cloudtrail.amazonaws.com"},
			"Action": "s3:GetBucketAcl", "Resource": "arn:" + partition + ":s3:::" + bucket,
			"Condition": map[string]any{"StringEquals": map[string]string{"aws:SourceArn": trailARN}}},
		map[string]any{"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": map[string]string{"Service": "cloudtrail.amazonaws.com"},
			"Action": "s3:PutObject", "Resource": "arn:" + partition + ":s3:::" + bucket + "/AWSLogs/" + account + "/*",
			"Condition": map[string]any{"StringEquals": map[string]string{"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trailARN}}}}})
	// The bucket's name is known: each call names its owner, so a bucket
	// someone else made under that name is refused, never written to.
	if _, err := sc.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(string(policy)),
		ExpectedBucketOwner: aws.String(account)}); err != nil {
		return fmt.Errorf("the bucket's policy: %w", err)
	}
	// OVM reads the events, not the files: a day is enough.
	if _, err := sc.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(bucket), ExpectedBucketOwner: aws.String(account),
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{{ID: aws.String("ovm-expire"),
			Status: s3types.ExpirationStatusEnabled, Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("")},
			Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(1)}}}}}); err != nil {
		return fmt.Errorf("the bucket's lifetime: %w", err)
	}
	ct := cloudtrail.NewFromConfig(c)
	_, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(SpendTrail), S3BucketName: aws.String(bucket),
		IsMultiRegionTrail: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(true)})
	var exists *cttypes.TrailAlreadyExistsException
	switch {
	case errors.As(err, &exists):
		// Made by an earlier try, or changed since: as OVM makes it.
		if _, err := ct.UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{Name: aws.String(SpendTrail), S3BucketName: aws.String(bucket),
			IsMultiRegionTrail: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(true)}); err != nil {
			return fmt.Errorf("update: %w", err)
		}
	case err != nil:
		return fmt.Errorf("create: %w", err)
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(SpendTrail)}); err != nil {
		return fmt.Errorf("start logging: %w", err)
	}
	return nil
}

// busClient is EventBridge in the bus's Region, with OVM's credentials,
// and the bus's name.
func (s *spendSetup) busClient() (*eventbridge.Client, string, error) {
	a, err := arn.Parse(s.bus)
	if err != nil || !strings.HasPrefix(a.Resource, "event-bus/") {
		return nil, "", fmt.Errorf("%q is not an event bus ARN", s.bus)
	}
	return eventbridge.NewFromConfig(s.ac, func(o *eventbridge.Options) { o.Region = a.Region }), strings.TrimPrefix(a.Resource, "event-bus/"), nil
}

// permit lets account put events on OVM's bus.
func (s *spendSetup) permit(ctx context.Context, account string) error {
	c, name, err := s.busClient()
	if err != nil {
		return err
	}
	_, err = c.PutPermission(ctx, &eventbridge.PutPermissionInput{EventBusName: aws.String(name), Action: aws.String("events:PutEvents"),
		Principal: aws.String(account), StatementId: aws.String(busStatement(account))})
	var exists *ebtypes.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("allow account %s to put events: %w", account, err)
	}
	return nil
}

// revoke takes account's statement off OVM's bus (none is fine).
func (s *spendSetup) revoke(ctx context.Context, account string) error {
	c, name, err := s.busClient()
	if err != nil {
		return err
	}
	_, err = c.RemovePermission(ctx, &eventbridge.RemovePermissionInput{EventBusName: aws.String(name), StatementId: aws.String(busStatement(account))})
	var nf *ebtypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("take account %s off OVM's bus: %w", account, err)
	}
	return nil
}
