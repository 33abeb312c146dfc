package awsorgs

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/roleaccess"
)

// On moto: a freeze writes the deny of the vended role's older sessions,
// resets its trust (the lease's principal dropped) and attaches the pool's
// deny-all SCP, sparing only OVM's creation role; with stop, it stops the
// account's running instances in every Region and names them. Run again,
// it converges. Unfreeze detaches the SCP and trusts the principal again.
// (moto does not enforce SCPs or IAM conditions: the documents are read
// back instead.)
func TestAFreezeDeniesEverythingButOVMAndStopsTheInstances(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	c := NewClients(cfg)
	p := newProvider(t, Config{}, c, ovm.SystemClock())
	a := readyAccount(t, p)
	im := memberIAM(p, cfg, a)
	orgs := organizations.NewFromConfig(cfg)
	ci := "arn:aws:iam::210987654321:role/ci"
	if err := p.Grant(ctx, a, ci); err != nil {
		t.Fatal(err)
	}
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
	lessee := cfg.Copy()
	lessee.Credentials = aws.NewCredentialsCache(p.assume(ovm.RoleARN(a.AWSAccountID, "OrganizationAccountAccessRole"), "lessee", c.STS))
	db := rds.NewFromConfig(lessee, func(o *rds.Options) { o.Region = "eu-west-1" })
	if _, err := db.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String("lessee-db"), DBInstanceClass: aws.String("db.t3.micro"),
		Engine: aws.String("mysql"), AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("not-a-secret-1")}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 5, 10, 11, 12, 0, time.UTC)
	f := ovm.Freeze{LeaseID: "lse_1", At: at, Stop: true, Principal: ci}
	res, err := p.Freeze(ctx, a, f)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	dbStopped := false
	for _, s := range res.Stopped {
		switch {
		case s.Action == ovm.SpendStop && s.Type == "rds.instance" && s.ID == "lessee-db" && s.Region == "eu-west-1":
			dbStopped = true
		case s.Action == ovm.SpendStop && s.Type == "ec2.instance" && s.Region == "eu-west-1":
			ids = append(ids, s.ID)
		default:
			t.Fatalf("stopped %+v", s)
		}
	}
	slices.Sort(ids)
	want := []string{aws.ToString(run.Instances[0].InstanceId), aws.ToString(run.Instances[1].InstanceId)}
	slices.Sort(want)
	if !slices.Equal(ids, want) || !dbStopped || !strings.Contains(res.Report, "3 EC2 and RDS instances stopped") {
		t.Fatalf("stopped %v, database %v (%s), want %v and lessee-db", ids, dbStopped, res.Report, want)
	}
	dbs, err := db.DescribeDBInstances(ctx, &rds.DescribeDBInstancesInput{DBInstanceIdentifier: aws.String("lessee-db")})
	if err != nil || len(dbs.DBInstances) != 1 || aws.ToString(dbs.DBInstances[0].DBInstanceStatus) != "stopped" {
		t.Fatalf("the lessee's database after the freeze: %v %v", dbs, err)
	}
	desc, err := member.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: want})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range desc.Reservations {
		for _, i := range r.Instances {
			if s := i.State.Name; s != ec2types.InstanceStateNameStopped && s != ec2types.InstanceStateNameStopping {
				t.Fatalf("instance %s is %s after the freeze", aws.ToString(i.InstanceId), s)
			}
		}
	}
	pol, err := im.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(p.cfg.RoleName), PolicyName: aws.String(roleaccess.PolicyName)})
	if err != nil {
		t.Fatalf("no deny on the role: %v", err)
	}
	if doc, _ := url.QueryUnescape(deref(pol.PolicyDocument)); !samePolicy(doc, roleaccess.RevokePolicy(at)) {
		t.Fatalf("the role's deny: %s", doc)
	}
	role, err := im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(p.cfg.RoleName)})
	if err != nil {
		t.Fatal(err)
	}
	if trust, _ := url.QueryUnescape(deref(role.Role.AssumeRolePolicyDocument)); strings.Contains(trust, ci) {
		t.Fatalf("the lease's principal is still trusted while frozen: %s", trust)
	}
	frozenSCP := func() (string, bool) {
		out, err := orgs.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(a.AWSAccountID),
			Filter: types.PolicyTypeServiceControlPolicy})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.Policies {
			if deref(s.Name) == "ovm-frozen-conformance" {
				d, err := orgs.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: s.Id})
				if err != nil {
					t.Fatal(err)
				}
				return deref(d.Policy.Content), true
			}
		}
		return "", false
	}
	content, ok := frozenSCP()
	if !ok || !samePolicy(content, p.FrozenSCP()) || !strings.Contains(content, `"Action":"*"`) ||
		!strings.Contains(content, "role/OrganizationAccountAccessRole") {
		t.Fatalf("the frozen SCP: %v %s", ok, content)
	}
	if _, err := p.Freeze(ctx, a, f); err != nil { // again: converges
		t.Fatalf("a second freeze: %v", err)
	}
	list, _ := orgs.ListPolicies(ctx, &organizations.ListPoliciesInput{Filter: types.PolicyTypeServiceControlPolicy})
	n := 0
	for _, s := range list.Policies {
		if deref(s.Name) == "ovm-frozen-conformance" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d frozen SCPs after two freezes, want 1", n)
	}
	if err := p.Unfreeze(ctx, a, f); err != nil {
		t.Fatal(err)
	}
	if _, ok := frozenSCP(); ok {
		t.Fatal("the frozen SCP is still attached after the unfreeze")
	}
	role, _ = im.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(p.cfg.RoleName)})
	if trust, _ := url.QueryUnescape(deref(role.Role.AssumeRolePolicyDocument)); !strings.Contains(trust, ci) {
		t.Fatalf("the lease's principal is not trusted again: %s", trust)
	}
	if err := p.Unfreeze(ctx, a, ovm.Freeze{LeaseID: "lse_1"}); err != nil {
		t.Fatalf("a second unfreeze: %v", err)
	}
}
