package awsorgs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// A frozen lease's account (docs/budgets.md) is under three denies at
// once: the vended role's sessions issued before the freeze are denied
// (the revocation's inline deny), the role trusts the pool's principals
// only (the lease's own principal is dropped), and the SCP frozenPolicyName
// denies everything to every principal but OVM's creation role, IAM users
// and roles the lessee made included. Unfreeze detaches the SCP and
// trusts the lease's principal again; the sessions stay denied (the lessee
// asks OVM for new ones).

var _ ovm.Freezer = (*Provider)(nil)

// frozenPolicyName is the pool's deny-all SCP of frozen leases.
func (p *Provider) frozenPolicyName() string { return "ovm-frozen-" + p.cfg.Pool }

// FrozenSCP is the content of the deny-all SCP of frozen leases: nothing
// is allowed but to OVM's creation role.
func (p *Provider) FrozenSCP() string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": "OVMFrozenDenyAllButOVM", "Effect": "Deny", "Action": "*", "Resource": "*",
		"Condition": map[string]any{"ArnNotLike": map[string]string{
			"aws:PrincipalARN": "arn:" + ovm.Partition(p.cfg.Region) + ":iam::*:role/" + p.cfg.CreationRole}}}}})
	return string(b)
}

// Freeze implements ovm.Freezer.
func (p *Provider) Freeze(ctx context.Context, a *ovm.Account, f ovm.Freeze) (ovm.FreezeResult, error) {
	_, mgmtID, err := p.org(ctx)
	if err != nil {
		return ovm.FreezeResult{}, err
	}
	creds := p.assume(ovm.RoleARN(a.AWSAccountID, p.cfg.CreationRole), "ovm-freeze", p.c.STS)
	c := p.c.IAMFor(creds)
	if err := roleaccess.DenyBefore(ctx, c, p.cfg.RoleName, f.At); err != nil {
		return ovm.FreezeResult{}, fmt.Errorf("deny older sessions: %w", err)
	}
	if _, err := p.ensureRole(ctx, c, mgmtID); err != nil {
		return ovm.FreezeResult{}, fmt.Errorf("reset the trust: %w", err)
	}
	id, err := p.ownPolicy(ctx, p.frozenPolicyName(), p.FrozenSCP(),
		"OVM: denies everything but "+p.cfg.CreationRole+" in the accounts of pool "+p.cfg.Pool+"'s frozen leases",
		[]orgtypes.Tag{{Key: aws.String("ovm:pool"), Value: aws.String(p.cfg.Pool)}, {Key: aws.String("ovm:purpose"), Value: aws.String("frozen")}})
	if err != nil {
		return ovm.FreezeResult{}, err
	}
	_, err = p.c.Orgs.AttachPolicy(ctx, &organizations.AttachPolicyInput{PolicyId: aws.String(id), TargetId: aws.String(a.AWSAccountID)})
	var dup *orgtypes.DuplicatePolicyAttachmentException
	if err != nil && !errors.As(err, &dup) {
		return ovm.FreezeResult{}, fmt.Errorf("attach SCP %s to %s: %w", p.frozenPolicyName(), a.AWSAccountID, err)
	}
	res := ovm.FreezeResult{Report: fmt.Sprintf("sessions of %s issued before %s denied, trust reset, SCP %s attached",
		p.cfg.RoleName, roleaccess.DenyTime(f.At).Format("2006-01-02T15:04:05Z"), p.frozenPolicyName())}
	if f.Stop {
		stopped, problems, err := p.stopInstances(ctx, creds)
		if err != nil {
			return ovm.FreezeResult{}, err
		}
		res.Stopped = stopped
		res.Report += fmt.Sprintf("; %d EC2 and RDS instances stopped", len(stopped))
		if len(problems) > 0 {
			res.Report += " (not stopped: " + strings.Join(problems, "; ") + ")"
		}
	}
	return res, nil
}

// rdsAPI is the part of RDS a freeze uses in a member account.
type rdsAPI interface {
	DescribeDBInstances(context.Context, *rds.DescribeDBInstancesInput, ...func(*rds.Options)) (*rds.DescribeDBInstancesOutput, error)
	StopDBInstance(context.Context, *rds.StopDBInstanceInput, ...func(*rds.Options)) (*rds.StopDBInstanceOutput, error)
}

// stopDatabases stops the available RDS DB instances of region. RDS
// refuses some (in a cluster: Aurora; read replicas; SQL Server Multi-AZ):
// they are named in problems and go on billing. AWS starts a stopped DB
// instance again after seven days by itself.
func stopDatabases(ctx context.Context, c rdsAPI, region string) (stopped []*ovm.SpendChange, problems []string) {
	pages := rds.NewDescribeDBInstancesPaginator(c, &rds.DescribeDBInstancesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return stopped, append(problems, fmt.Sprintf("%s RDS: %v", region, err))
		}
		for _, db := range page.DBInstances {
			id := aws.ToString(db.DBInstanceIdentifier)
			if aws.ToString(db.DBInstanceStatus) != "available" {
				continue
			}
			if _, err := c.StopDBInstance(ctx, &rds.StopDBInstanceInput{DBInstanceIdentifier: db.DBInstanceIdentifier}); err != nil {
				problems = append(problems, fmt.Sprintf("%s RDS %s: %v", region, id, err))
				continue
			}
			stopped = append(stopped, &ovm.SpendChange{Action: ovm.SpendStop, Type: "rds.instance", Region: region, ID: id})
		}
	}
	return stopped, problems
}

// stopInstances stops the running EC2 instances and the available RDS DB
// instances of every Region enabled in the account; one AWS refuses to
// stop (an instance-store root, a Spot instance, an Aurora member) is
// named in problems and left running (its spend goes on counting).
func (p *Provider) stopInstances(ctx context.Context, creds aws.CredentialsProvider) (stopped []*ovm.SpendChange, problems []string, err error) {
	if p.c.EC2For == nil {
		return nil, nil, fmt.Errorf("awsorgs: no EC2 client")
	}
	home := p.cfg.Region
	if home == "" {
		home = "us-east-1"
	}
	regions, err := p.c.EC2For(creds, home).DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return nil, nil, fmt.Errorf("list the account's Regions: %w", err)
	}
	for _, r := range regions.Regions {
		region := aws.ToString(r.RegionName)
		c := p.c.EC2For(creds, region)
		var ids []string
		pages := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}}}})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", region, err))
				break
			}
			for _, rv := range page.Reservations {
				for _, i := range rv.Instances {
					ids = append(ids, aws.ToString(i.InstanceId))
				}
			}
		}
		for start := 0; start < len(ids); start += 50 {
			batch := ids[start:min(start+50, len(ids))]
			if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: batch}); err != nil {
				// One refusal refuses the batch: try each alone.
				for _, id := range batch {
					if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
						problems = append(problems, fmt.Sprintf("%s %s: %v", region, id, err))
						continue
					}
					stopped = append(stopped, &ovm.SpendChange{Action: ovm.SpendStop, Type: "ec2.instance", Region: region, ID: id})
				}
				continue
			}
			for _, id := range batch {
				stopped = append(stopped, &ovm.SpendChange{Action: ovm.SpendStop, Type: "ec2.instance", Region: region, ID: id})
			}
		}
		if p.c.RDSFor != nil {
			dbs, dbProblems := stopDatabases(ctx, p.c.RDSFor(creds, region), region)
			stopped, problems = append(stopped, dbs...), append(problems, dbProblems...)
		}
	}
	return stopped, problems, nil
}

// Unfreeze implements ovm.Freezer.
func (p *Provider) Unfreeze(ctx context.Context, a *ovm.Account, f ovm.Freeze) error {
	attached, err := p.attachedSCPs(ctx, a)
	if err != nil {
		return err
	}
	for _, s := range attached {
		if deref(s.Name) != p.frozenPolicyName() {
			continue
		}
		_, err := p.c.Orgs.DetachPolicy(ctx, &organizations.DetachPolicyInput{PolicyId: s.Id, TargetId: aws.String(a.AWSAccountID)})
		var nf *orgtypes.PolicyNotAttachedException
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("detach SCP %s from %s: %w", p.frozenPolicyName(), a.AWSAccountID, err)
		}
	}
	if f.Principal != "" {
		if err := p.Grant(ctx, a, f.Principal); err != nil {
			return fmt.Errorf("trust the lease's principal again: %w", err)
		}
	}
	return nil
}
