package awsorgs

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/ovmdev/ovm"
)

// ec2API is the part of EC2 the spend sweep uses in a member account.
type ec2API interface {
	DescribeRegions(context.Context, *ec2.DescribeRegionsInput, ...func(*ec2.Options)) (*ec2.DescribeRegionsOutput, error)
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DescribeVolumes(context.Context, *ec2.DescribeVolumesInput, ...func(*ec2.Options)) (*ec2.DescribeVolumesOutput, error)
	DescribeNatGateways(context.Context, *ec2.DescribeNatGatewaysInput, ...func(*ec2.Options)) (*ec2.DescribeNatGatewaysOutput, error)
	// StopInstances stops what a freeze with stop: true stops.
	StopInstances(context.Context, *ec2.StopInstancesInput, ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error)
}

// sweptTypes are the resource types the sweep lists.
var sweptTypes = []string{"ec2.instance", "ebs.volume", "nat.gateway"}

var _ ovm.SpendSweeper = (*Provider)(nil)

// SpendSweep implements ovm.SpendSweeper: the instances, volumes and NAT
// gateways in every Region enabled in the account, through the role OVM
// bootstraps with. A Region that cannot be listed is named in Errors and
// left out of Reached.
func (p *Provider) SpendSweep(ctx context.Context, a *ovm.Account) (*ovm.SpendSweepResult, error) {
	if p.c.EC2For == nil {
		return nil, fmt.Errorf("awsorgs: no EC2 client")
	}
	creds := p.assume(ovm.RoleARN(a.AWSAccountID, p.cfg.CreationRole), "ovm-spend-sweep", p.c.STS)
	home := p.cfg.Region
	if home == "" {
		home = "us-east-1"
	}
	regions, err := p.c.EC2For(creds, home).DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return nil, fmt.Errorf("list the account's Regions: %w", err)
	}
	res := &ovm.SpendSweepResult{Types: sweptTypes}
	for _, r := range regions.Regions {
		region := aws.ToString(r.RegionName)
		found, err := sweepRegion(ctx, p.c.EC2For(creds, region), region)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", region, err))
			continue
		}
		res.Reached = append(res.Reached, region)
		res.Found = append(res.Found, found...)
	}
	return res, nil
}

func sweepRegion(ctx context.Context, c ec2API, region string) ([]ovm.SweptResource, error) {
	var out []ovm.SweptResource
	insts := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{})
	for insts.HasMorePages() {
		page, err := insts.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("instances: %w", err)
		}
		for _, rv := range page.Reservations {
			for _, i := range rv.Instances {
				state := ec2types.InstanceStateNameRunning
				if i.State != nil {
					state = i.State.Name
				}
				out = append(out, ovm.SweptResource{Type: "ec2.instance", Region: region, ID: aws.ToString(i.InstanceId),
					Size: string(i.InstanceType), Since: aws.ToTime(i.LaunchTime),
					Running: state == ec2types.InstanceStateNameRunning || state == ec2types.InstanceStateNamePending})
			}
		}
	}
	vols := ec2.NewDescribeVolumesPaginator(c, &ec2.DescribeVolumesInput{})
	for vols.HasMorePages() {
		page, err := vols.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("volumes: %w", err)
		}
		for _, v := range page.Volumes {
			out = append(out, ovm.SweptResource{Type: "ebs.volume", Region: region, ID: aws.ToString(v.VolumeId),
				Size: string(v.VolumeType) + ":" + strconv.Itoa(int(aws.ToInt32(v.Size))), Since: aws.ToTime(v.CreateTime),
				Running: v.State != ec2types.VolumeStateDeleted && v.State != ec2types.VolumeStateDeleting && v.State != ec2types.VolumeStateError})
		}
	}
	nats := ec2.NewDescribeNatGatewaysPaginator(c, &ec2.DescribeNatGatewaysInput{})
	for nats.HasMorePages() {
		page, err := nats.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("NAT gateways: %w", err)
		}
		for _, n := range page.NatGateways {
			out = append(out, ovm.SweptResource{Type: "nat.gateway", Region: region, ID: aws.ToString(n.NatGatewayId),
				Since:   aws.ToTime(n.CreateTime),
				Running: n.State == ec2types.NatGatewayStatePending || n.State == ec2types.NatGatewayStateAvailable})
		}
	}
	return out, nil
}
