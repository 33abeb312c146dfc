package setup

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/provider/awsorgs"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// A management account's spend on moto: its bootstrap makes the trail
// (logging, multi-Region, into a bucket only CloudTrail writes, expiring
// daily), lets the account put events on OVM's bus, and forwards the
// priced calls there in every Region; a CloudTrail-shaped event on the
// account's own bus reaches OVM's queue. Before the close the account is
// taken off the bus. Each converges when run again. The sweep finds what
// runs there through the vended role. moto stores the trail
// but writes no log and sends no CloudTrail event itself: the event is put
// on the bus by the test, as CloudTrail would.
func TestAManagementAccountsBootstrapSendsItsPricedCallsToOVMsBus(t *testing.T) {
	srv := mototest.Require(t)
	cfg := srv.Config()
	ctx := context.Background()
	const acct = "666666666666"
	// OVM's bus, its rule to OVM's queue.
	q := srv.Queue(t, "ovm-spend")
	eb := eventbridge.NewFromConfig(cfg)
	bus, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("ovm-spend")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("to-queue"), EventBusName: aws.String("ovm-spend"),
		EventPattern: aws.String(`{"source":[{"prefix":"aws."}]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("to-queue"), EventBusName: aws.String("ovm-spend"),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(q.ARN)}}}); err != nil {
		t.Fatal(err)
	}
	// The management account and its vended role, as the role stack makes it.
	admin := cfg.Copy()
	admin.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), "arn:aws:iam::"+acct+":role/stack-admin"))
	if _, err := iam.NewFromConfig(admin).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("OVMCrossAccountRole"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	s := &spendSetup{ac: cfg, clients: awsorgs.NewClients(cfg), bus: aws.ToString(bus.EventBusArn), home: "us-east-1", path: true}
	for range 2 { // converges
		if err := s.setUp(ctx, acct, "arn:aws:iam::"+acct+":role/OVMCrossAccountRole"); err != nil {
			t.Fatal(err)
		}
	}

	ct := cloudtrail.NewFromConfig(admin)
	trails, err := ct.DescribeTrails(ctx, &cloudtrail.DescribeTrailsInput{TrailNameList: []string{SpendTrail}})
	if err != nil || len(trails.TrailList) != 1 || !aws.ToBool(trails.TrailList[0].IsMultiRegionTrail) ||
		aws.ToString(trails.TrailList[0].S3BucketName) != "ovm-spend-trail-"+acct {
		t.Fatalf("the trail: %+v %v", trails, err)
	}
	status, err := ct.GetTrailStatus(ctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(SpendTrail)})
	if err != nil || !aws.ToBool(status.IsLogging) {
		t.Fatalf("the trail is not logging: %+v %v", status, err)
	}
	sc := s3.NewFromConfig(admin, func(o *s3.Options) { o.UsePathStyle = true })
	pol, err := sc.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("ovm-spend-trail-" + acct)})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), "cloudtrail.amazonaws.com") ||
		!strings.Contains(aws.ToString(pol.Policy), "arn:aws:cloudtrail:us-east-1:"+acct+":trail/ovm-spend") ||
		!strings.Contains(aws.ToString(pol.Policy), "/AWSLogs/"+acct+"/*") {
		t.Fatalf("the bucket's policy: %v %v", aws.ToString(pol.Policy), err)
	}
	lc, err := sc.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("ovm-spend-trail-" + acct)})
	if err != nil || len(lc.Rules) != 1 || aws.ToInt32(lc.Rules[0].Expiration.Days) != 1 {
		t.Fatalf("the bucket's lifetime: %+v %v", lc, err)
	}
	busPolicy := func() string {
		d, err := eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String("ovm-spend")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(d.Policy)
	}
	if p := busPolicy(); !strings.Contains(p, busStatement(acct)) || !strings.Contains(p, acct) {
		t.Fatalf("OVM's bus does not let the account put events: %s", p)
	}
	rules := eventbridge.NewFromConfig(admin, func(o *eventbridge.Options) { o.Region = "eu-west-1" })
	targets, err := rules.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String(awsorgs.ForwardRule)})
	if err != nil || len(targets.Targets) != 1 || aws.ToString(targets.Targets[0].Arn) != aws.ToString(bus.EventBusArn) {
		t.Fatalf("the forwarding in eu-west-1: %+v %v", targets, err)
	}

	// A lessee's launch, as CloudTrail puts it on the account's bus.
	detail, _ := json.Marshal(map[string]any{"eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "awsRegion": "us-east-1",
		"eventID": "e-mgmt-1", "userIdentity": map[string]any{"type": "AssumedRole"}})
	own := eventbridge.NewFromConfig(admin)
	if out, err := own.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{Source: aws.String("aws.ec2"),
		DetailType: aws.String("AWS API Call via CloudTrail"), Detail: aws.String(string(detail))}}}); err != nil || out.FailedEntryCount > 0 {
		t.Fatalf("put the event: %+v %v", out, err)
	}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); len(got) == 0 && time.Now().Before(deadline); {
		got = q.Receive()
	}
	// (moto's forwarded envelope has no "account"; AWS's names the
	// management account, and so does CloudTrail's recipientAccountId.)
	if len(got) != 1 || !strings.Contains(got[0], "e-mgmt-1") {
		t.Fatalf("OVM's queue got %q", got)
	}

	// The sweep lists what runs in the account, through the vended role.
	ec := ec2.NewFromConfig(admin, func(o *ec2.Options) { o.Region = "eu-west-1" })
	images, err := ec.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(images.Images) == 0 {
		t.Fatalf("moto's images: %v", err)
	}
	run, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: images.Images[0].ImageId, InstanceType: ec2types.InstanceTypeT3Micro,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	w := withAccess{spend: s}
	res, err := w.SpendSweep(ctx, &ovm.Account{AWSAccountID: acct, RoleARN: "arn:aws:iam::" + acct + ":role/OVMCrossAccountRole"})
	if err != nil || !slices.Contains(res.Reached, "eu-west-1") {
		t.Fatalf("sweep: %+v %v", res, err)
	}
	found := false
	for _, f := range res.Found {
		found = found || f.Type == "ec2.instance" && f.ID == aws.ToString(run.Instances[0].InstanceId) && f.Running && f.Region == "eu-west-1"
	}
	if !found {
		t.Fatalf("the sweep did not find the lessee's instance: %+v", res.Found)
	}

	// Before the close, the account is taken off the bus.
	for range 2 {
		if err := s.revoke(ctx, acct); err != nil {
			t.Fatal(err)
		}
	}
	if p := busPolicy(); strings.Contains(p, busStatement(acct)) {
		t.Fatalf("the closed account may still put events on OVM's bus: %s", p)
	}
}
