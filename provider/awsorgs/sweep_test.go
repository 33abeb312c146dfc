package awsorgs

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/providertest"
)

// The sweep finds, in the member account, an instance and a volume for
// which no event came, in the Region they run in, and what a stopped
// instance is; the ledger then counts them.
func TestASweepFindsWhatRunsInTheAccountWithoutAnEvent(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	c := NewClients(cfg)
	p := newProvider(t, Config{}, c, ovm.SystemClock())
	a := providertest.NewAccount(p)
	r, err := p.Create(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	a.AWSAccountID = r.AWSAccountID
	if r, err := p.Bootstrap(ctx, a); err != nil || r.Status != ovm.StepDone {
		t.Fatalf("bootstrap: %+v %v", r, err)
	}
	// The lessee, inside the account, launches without OVM hearing of it.
	member := c.EC2For(p.assume(ovm.RoleARN(a.AWSAccountID, "OrganizationAccountAccessRole"), "lessee", c.STS), "eu-west-1").(*ec2.Client)
	images, err := member.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(images.Images) == 0 {
		t.Fatalf("moto's images: %v", err)
	}
	run, err := member.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: images.Images[0].ImageId, InstanceType: ec2types.InstanceTypeM5Large,
		MinCount: aws.Int32(2), MaxCount: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	stopped := aws.ToString(run.Instances[1].InstanceId)
	if _, err := member.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{stopped}}); err != nil {
		t.Fatal(err)
	}
	if _, err := member.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("eu-west-1a"), Size: aws.Int32(100),
		VolumeType: ec2types.VolumeTypeGp3}); err != nil {
		t.Fatal(err)
	}
	res, err := p.SpendSweep(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 || !slices.Contains(res.Reached, "eu-west-1") || !slices.Contains(res.Reached, "us-east-1") {
		t.Fatalf("reached %v, errors %v", res.Reached, res.Errors)
	}
	var running, stoppedSeen, volume bool
	for _, f := range res.Found {
		switch {
		case f.Type == "ec2.instance" && f.ID == aws.ToString(run.Instances[0].InstanceId):
			running = f.Running && f.Size == "m5.large" && f.Region == "eu-west-1" && !f.Since.IsZero()
		case f.Type == "ec2.instance" && f.ID == stopped:
			stoppedSeen = !f.Running
		case f.Type == "ebs.volume":
			volume = f.Running && f.Size == "gp3:100" && f.Region == "eu-west-1"
		}
	}
	if !running || !stoppedSeen || !volume {
		t.Fatalf("found %+v: running instance %v, stopped one %v, volume %v", res.Found, running, stoppedSeen, volume)
	}
	// The ledger counts the running instance from its launch.
	now := time.Now()
	g := ovm.NewSpendLedger(&ovm.Lease{ID: "l", CreatedAt: now.Add(-time.Hour)})
	for i := range res.Found {
		res.Found[i].USDPerHour = 1
	}
	g.Sweep(now, res)
	// The running instance, our volume and both instances' root volumes
	// (a stopped instance's volume still costs); not the stopped instance.
	if s := g.Summarize(now.Add(time.Hour)); s.BurnUSDPerHour != 4 {
		t.Fatalf("after the sweep the ledger burns %v, want 4", s.BurnUSDPerHour)
	}
}
