package awsorgs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/opensearch"
	ostypes "github.com/aws/aws-sdk-go-v2/service/opensearch/types"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider/providertest"
	"github.com/ovmdev/ovm/spend/prices"
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

// The sweep lists, in the member account, what the lessee made of every
// other priced type, with the Type, ID and Size spend/cloudtrail gives
// its events (so the two are one ledger entry) and the price table
// prices. moto cannot show a training job running (it completes one when
// it is created): the sweep must not find it running; the InProgress case
// is TestASweptTrainingJobIsSizedAndPaged's, on a fake.
func TestASweepFindsLoadBalancersDatabasesClustersSageMakerAndOpenSearch(t *testing.T) {
	cfg := motoOrg(t)
	ctx := context.Background()
	c := NewClients(cfg)
	p := newProvider(t, Config{}, c, ovm.SystemClock())
	a := readyAccount(t, p)
	lessee := cfg.Copy()
	lessee.Credentials = aws.NewCredentialsCache(p.assume(ovm.RoleARN(a.AWSAccountID, "OrganizationAccountAccessRole"), "lessee", c.STS))
	lessee.Region = "eu-west-1"
	role := "arn:aws:iam::" + a.AWSAccountID + ":role/lessee-service"
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	vpcs := ec2.NewFromConfig(lessee)
	vpc, err := vpcs.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i, az := range []string{"eu-west-1a", "eu-west-1b"} {
		s, err := vpcs.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, AvailabilityZone: aws.String(az),
			CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/24", i+1))})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, aws.ToString(s.Subnet.SubnetId))
	}
	lb, err := elb.NewFromConfig(lessee).CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{Name: aws.String("lessee-alb"), Subnets: subnets,
		Type: elbtypes.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatal(err)
	}
	db := rds.NewFromConfig(lessee)
	for _, id := range []string{"lessee-db", "stopped-db"} {
		must(db.CreateDBInstance(ctx, &rds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(id), DBInstanceClass: aws.String("db.t3.micro"),
			Engine: aws.String("mysql"), AllocatedStorage: aws.Int32(20), MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("not-a-secret-1")}))
	}
	must(db.StopDBInstance(ctx, &rds.StopDBInstanceInput{DBInstanceIdentifier: aws.String("stopped-db")}))
	must(eks.NewFromConfig(lessee).CreateCluster(ctx, &eks.CreateClusterInput{Name: aws.String("lessee-eks"), RoleArn: aws.String(role),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: subnets}}))
	sm := sagemaker.NewFromConfig(lessee)
	must(sm.CreateNotebookInstance(ctx, &sagemaker.CreateNotebookInstanceInput{NotebookInstanceName: aws.String("lessee-notebook"),
		InstanceType: smtypes.InstanceTypeMlT3Medium, RoleArn: aws.String(role)}))
	must(sm.CreateModel(ctx, &sagemaker.CreateModelInput{ModelName: aws.String("lessee-model"), ExecutionRoleArn: aws.String(role),
		PrimaryContainer: &smtypes.ContainerDefinition{Image: aws.String("123456789012.dkr.ecr.eu-west-1.amazonaws.com/model:1")}}))
	must(sm.CreateEndpointConfig(ctx, &sagemaker.CreateEndpointConfigInput{EndpointConfigName: aws.String("lessee-config"),
		ProductionVariants: []smtypes.ProductionVariant{{VariantName: aws.String("all"), ModelName: aws.String("lessee-model"),
			InstanceType: smtypes.ProductionVariantInstanceTypeMlM5Large, InitialInstanceCount: aws.Int32(2)}}}))
	must(sm.CreateEndpoint(ctx, &sagemaker.CreateEndpointInput{EndpointName: aws.String("lessee-endpoint"), EndpointConfigName: aws.String("lessee-config")}))
	must(sm.CreateTrainingJob(ctx, &sagemaker.CreateTrainingJobInput{TrainingJobName: aws.String("lessee-training"), RoleArn: aws.String(role),
		AlgorithmSpecification: &smtypes.AlgorithmSpecification{TrainingImage: aws.String("123456789012.dkr.ecr.eu-west-1.amazonaws.com/train:1"),
			TrainingInputMode: smtypes.TrainingInputModeFile},
		OutputDataConfig: &smtypes.OutputDataConfig{S3OutputPath: aws.String("s3://lessee/out")},
		ResourceConfig: &smtypes.ResourceConfig{InstanceType: smtypes.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(1),
			VolumeSizeInGB: aws.Int32(10)},
		StoppingCondition: &smtypes.StoppingCondition{MaxRuntimeInSeconds: aws.Int32(3600)}}))
	must(opensearch.NewFromConfig(lessee).CreateDomain(ctx, &opensearch.CreateDomainInput{DomainName: aws.String("lessee-search"),
		ClusterConfig: &ostypes.ClusterConfig{InstanceType: ostypes.OpenSearchPartitionInstanceTypeM5LargeSearch, InstanceCount: aws.Int32(3)}}))

	res, err := p.SpendSweep(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 || !slices.Contains(res.Reached, "eu-west-1") {
		t.Fatalf("reached %v, errors %v", res.Reached, res.Errors)
	}
	want := map[string]ovm.SweptResource{
		"elb.load_balancer":  {ID: aws.ToString(lb.LoadBalancers[0].LoadBalancerArn), Size: "application", Running: true},
		"rds.instance":       {ID: "lessee-db", Size: "db.t3.micro", Running: true},
		"eks.cluster":        {ID: "lessee-eks", Running: true},
		"sagemaker.notebook": {ID: "lessee-notebook", Size: "ml.t3.medium", Running: true},
		"sagemaker.endpoint": {ID: "lessee-endpoint", Size: "ml.m5.large:2", Running: true},
		"opensearch.domain":  {ID: "lessee-search", Size: "m5.large.search:3", Running: true},
	}
	table := prices.Default()
	for _, f := range res.Found {
		switch {
		case f.Type == "rds.instance" && f.ID == "stopped-db":
			if f.Running {
				t.Errorf("the stopped database is found running: %+v", f)
			}
		case f.Type == "sagemaker.training":
			t.Errorf("moto's completed training job is found running: %+v", f)
		}
		w, ok := want[f.Type]
		if !ok || f.ID != w.ID {
			continue
		}
		delete(want, f.Type)
		if f.Region != "eu-west-1" || f.Size != w.Size || f.Running != w.Running {
			t.Errorf("%s found %+v, want size %q, running %v in eu-west-1", f.Type, f, w.Size, w.Running)
		}
		if _, ok := table.HourlyUSD(f.Type, f.Size, "us-east-1"); !ok {
			t.Errorf("%s of size %q has no price in the shipped table", f.Type, f.Size)
		}
	}
	for typ, w := range want {
		t.Errorf("the sweep did not find the %s %s (found %+v)", typ, w.ID, res.Found)
	}

	// OpenSearch refuses in eu-west-1: its domain there keeps running in
	// the ledger, the database gone from there stops.
	g := ovm.NewSpendLedger(&ovm.Lease{ID: "l", CreatedAt: t0.Add(-time.Hour)})
	g.Sweep(t0, res)
	must(db.DeleteDBInstance(ctx, &rds.DeleteDBInstanceInput{DBInstanceIdentifier: aws.String("lessee-db"), SkipFinalSnapshot: aws.Bool(true)}))
	listed := c.OpenSearchFor
	c.OpenSearchFor = func(creds aws.CredentialsProvider, region string) opensearchAPI {
		if region == "eu-west-1" {
			return deniedOpenSearch{}
		}
		return listed(creds, region)
	}
	if res, err = p.SpendSweep(ctx, a); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Skipped["eu-west-1"], []string{"opensearch.domain"}) || len(res.Errors) != 1 ||
		!strings.Contains(res.Errors[0], "eu-west-1 opensearch.domain: ") || !strings.Contains(res.Errors[0], "AccessDenied") {
		t.Fatalf("skipped %v, errors %q: the refused type is not named", res.Skipped, res.Errors)
	}
	g.Sweep(t0.Add(time.Minute), res)
	for _, r := range g.Resources {
		if r.Type == "opensearch.domain" && !r.Running() || r.Type == "rds.instance" && r.Running() {
			t.Errorf("after a sweep OpenSearch refused: %s %s running %v", r.Type, r.ID, r.Running())
		}
	}
}

// deniedOpenSearch refuses, as OpenSearch Service does a role without
// es:ListDomainNames.
type deniedOpenSearch struct{ opensearchAPI }

func (deniedOpenSearch) ListDomainNames(context.Context, *opensearch.ListDomainNamesInput, ...func(*opensearch.Options)) (*opensearch.ListDomainNamesOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: es:ListDomainNames"}
}

// A training job in progress is found with the size spend/cloudtrail
// gives its event, on every page (moto completes a job when it is
// created, so a fake lists it).
func TestASweptTrainingJobIsSizedAndPaged(t *testing.T) {
	f := &pagedTraining{}
	c := &Clients{SageMakerFor: func(aws.CredentialsProvider, string) sagemakerAPI { return f }}
	found, err := listTrainingJobs(context.Background(), c, nil, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []ovm.SweptResource{
		{Type: "sagemaker.training", Region: "eu-west-1", ID: "job-1", Size: "ml.m5.large:1", Since: t0, Running: true},
		{Type: "sagemaker.training", Region: "eu-west-1", ID: "job-2", Size: "ml.m5.large:4", Since: t0, Running: true},
	}
	if !slices.Equal(found, want) || !slices.Equal(f.asked, []smtypes.TrainingJobStatus{"InProgress", "InProgress"}) {
		t.Fatalf("found %+v asking %v, want %+v asking for InProgress jobs twice", found, f.asked, want)
	}
}

// pagedTraining lists one training job in progress on each of two pages.
type pagedTraining struct {
	sagemakerAPI
	asked []smtypes.TrainingJobStatus
}

func (f *pagedTraining) ListTrainingJobs(_ context.Context, in *sagemaker.ListTrainingJobsInput, _ ...func(*sagemaker.Options)) (*sagemaker.ListTrainingJobsOutput, error) {
	f.asked = append(f.asked, in.StatusEquals)
	name, next := "job-1", aws.String("page-2")
	if aws.ToString(in.NextToken) == "page-2" {
		name, next = "job-2", nil
	}
	return &sagemaker.ListTrainingJobsOutput{NextToken: next, TrainingJobSummaries: []smtypes.TrainingJobSummary{
		{TrainingJobName: aws.String(name), TrainingJobStatus: smtypes.TrainingJobStatusInProgress, CreationTime: aws.Time(t0.Add(-time.Minute))}}}, nil
}

func (f *pagedTraining) DescribeTrainingJob(_ context.Context, in *sagemaker.DescribeTrainingJobInput, _ ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingJobOutput, error) {
	n := int32(1)
	if aws.ToString(in.TrainingJobName) == "job-2" {
		n = 4
	}
	return &sagemaker.DescribeTrainingJobOutput{TrainingStartTime: aws.Time(t0),
		ResourceConfig: &smtypes.ResourceConfig{InstanceType: smtypes.TrainingInstanceTypeMlM5Large, InstanceCount: aws.Int32(n)}}, nil
}

// OpenSearch's DescribeDomains takes five names at most: seven domains
// are described in two calls, all found.
func TestASweepDescribesOpenSearchDomainsFiveAtATime(t *testing.T) {
	f := &manyDomains{n: 7}
	c := &Clients{OpenSearchFor: func(aws.CredentialsProvider, string) opensearchAPI { return f }}
	found, err := listDomains(context.Background(), c, nil, "eu-west-1")
	if err != nil || len(found) != 7 || !slices.Equal(f.calls, []int{5, 2}) || found[6].ID != "d6" || found[6].Size != "t3.small.search:2" {
		t.Fatalf("found %+v (%v) in calls of %v names", found, err, f.calls)
	}
}

// manyDomains has n domains and refuses more than five names at once,
// as OpenSearch Service does.
type manyDomains struct {
	opensearchAPI
	n     int
	calls []int
}

func (f *manyDomains) ListDomainNames(context.Context, *opensearch.ListDomainNamesInput, ...func(*opensearch.Options)) (*opensearch.ListDomainNamesOutput, error) {
	out := &opensearch.ListDomainNamesOutput{}
	for i := range f.n {
		out.DomainNames = append(out.DomainNames, ostypes.DomainInfo{DomainName: aws.String(fmt.Sprint("d", i))})
	}
	return out, nil
}

func (f *manyDomains) DescribeDomains(_ context.Context, in *opensearch.DescribeDomainsInput, _ ...func(*opensearch.Options)) (*opensearch.DescribeDomainsOutput, error) {
	f.calls = append(f.calls, len(in.DomainNames))
	if len(in.DomainNames) > 5 {
		return nil, &smithy.GenericAPIError{Code: "ValidationException", Message: "at most 5 domain names"}
	}
	out := &opensearch.DescribeDomainsOutput{}
	for _, n := range in.DomainNames {
		out.DomainStatusList = append(out.DomainStatusList, ostypes.DomainStatus{DomainName: aws.String(n),
			ClusterConfig: &ostypes.ClusterConfig{InstanceType: ostypes.OpenSearchPartitionInstanceTypeT3SmallSearch, InstanceCount: aws.Int32(2)}})
	}
	return out, nil
}
