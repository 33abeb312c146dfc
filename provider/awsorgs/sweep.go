package awsorgs

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/opensearch"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker"
	smtypes "github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
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

// elbAPI is the part of Elastic Load Balancing (v2) the spend sweep uses.
type elbAPI interface {
	DescribeLoadBalancers(context.Context, *elb.DescribeLoadBalancersInput, ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error)
}

// eksAPI is the part of EKS the spend sweep uses.
type eksAPI interface {
	ListClusters(context.Context, *eks.ListClustersInput, ...func(*eks.Options)) (*eks.ListClustersOutput, error)
	DescribeCluster(context.Context, *eks.DescribeClusterInput, ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
}

// sagemakerAPI is the part of SageMaker the spend sweep uses.
type sagemakerAPI interface {
	ListNotebookInstances(context.Context, *sagemaker.ListNotebookInstancesInput, ...func(*sagemaker.Options)) (*sagemaker.ListNotebookInstancesOutput, error)
	ListEndpoints(context.Context, *sagemaker.ListEndpointsInput, ...func(*sagemaker.Options)) (*sagemaker.ListEndpointsOutput, error)
	DescribeEndpoint(context.Context, *sagemaker.DescribeEndpointInput, ...func(*sagemaker.Options)) (*sagemaker.DescribeEndpointOutput, error)
	DescribeEndpointConfig(context.Context, *sagemaker.DescribeEndpointConfigInput, ...func(*sagemaker.Options)) (*sagemaker.DescribeEndpointConfigOutput, error)
	ListTrainingJobs(context.Context, *sagemaker.ListTrainingJobsInput, ...func(*sagemaker.Options)) (*sagemaker.ListTrainingJobsOutput, error)
	DescribeTrainingJob(context.Context, *sagemaker.DescribeTrainingJobInput, ...func(*sagemaker.Options)) (*sagemaker.DescribeTrainingJobOutput, error)
}

// opensearchAPI is the part of OpenSearch Service the spend sweep uses.
type opensearchAPI interface {
	ListDomainNames(context.Context, *opensearch.ListDomainNamesInput, ...func(*opensearch.Options)) (*opensearch.ListDomainNamesOutput, error)
	DescribeDomains(context.Context, *opensearch.DescribeDomainsInput, ...func(*opensearch.Options)) (*opensearch.DescribeDomainsOutput, error)
}

// lister lists the resources of one type in one Region.
type lister struct {
	typ string
	// has reports whether c can make the client list needs.
	has  func(c *Clients) bool
	list func(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) ([]ovm.SweptResource, error)
}

// listers are the types the sweep lists, with the Type, ID and Size
// conventions of spend/cloudtrail's changes, so that a resource swept and
// an event of it are one ledger entry priced by the same table entry.
var listers = []lister{
	{"ec2.instance", hasEC2, listInstances},
	{"ebs.volume", hasEC2, listVolumes},
	{"nat.gateway", hasEC2, listNATGateways},
	{"elb.load_balancer", func(c *Clients) bool { return c.ELBFor != nil }, listLoadBalancers},
	{"rds.instance", func(c *Clients) bool { return c.RDSFor != nil }, listDBInstances},
	{"eks.cluster", func(c *Clients) bool { return c.EKSFor != nil }, listEKSClusters},
	{"sagemaker.notebook", hasSageMaker, listNotebooks},
	{"sagemaker.endpoint", hasSageMaker, listEndpoints},
	{"sagemaker.training", hasSageMaker, listTrainingJobs},
	{"opensearch.domain", func(c *Clients) bool { return c.OpenSearchFor != nil }, listDomains},
}

func hasEC2(c *Clients) bool       { return c.EC2For != nil }
func hasSageMaker(c *Clients) bool { return c.SageMakerFor != nil }

// sweepParallel is how many Regions of an account are listed at once.
const sweepParallel = 4

var _ ovm.SpendSweeper = (*Provider)(nil)

// SpendSweep implements ovm.SpendSweeper: the priced resources (listers)
// in every Region enabled in the account, through the role OVM bootstraps
// with. A type that cannot be listed in a Region (access denied, the
// service not offered there, an error) is named in Errors and Skipped for
// that Region; a Region where nothing can be listed is named once and
// left out of Reached.
func (p *Provider) SpendSweep(ctx context.Context, a *ovm.Account) (*ovm.SpendSweepResult, error) {
	if p.c.EC2For == nil {
		return nil, fmt.Errorf("awsorgs: no EC2 client")
	}
	return SweepAccount(ctx, p.c, p.cfg.Region, p.assume(ovm.RoleARN(a.AWSAccountID, p.cfg.CreationRole), "ovm-spend-sweep", p.c.STS))
}

// SweepAccount lists the priced resources in every Region enabled in the
// account creds act in (Regions listed from home, default us-east-1), as
// SpendSweep says. The signup provider's management accounts use it
// through their vended role.
func SweepAccount(ctx context.Context, c *Clients, home string, creds aws.CredentialsProvider) (*ovm.SpendSweepResult, error) {
	if c.EC2For == nil {
		return nil, fmt.Errorf("awsorgs: no EC2 client")
	}
	if home == "" {
		home = "us-east-1"
	}
	regions, err := c.EC2For(creds, home).DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return nil, fmt.Errorf("list the account's Regions: %w", err)
	}
	var ls []lister
	res := &ovm.SpendSweepResult{Skipped: map[string][]string{}}
	for _, l := range listers {
		if l.has(c) {
			ls = append(ls, l)
			res.Types = append(res.Types, l.typ)
		}
	}
	swept := make([]regionSweep, len(regions.Regions))
	var wg sync.WaitGroup
	sem := make(chan struct{}, sweepParallel)
	for i, r := range regions.Regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			swept[i] = sweepRegion(ctx, c, creds, aws.ToString(r.RegionName), ls)
		}()
	}
	wg.Wait()
	for _, s := range swept {
		if len(s.skipped) == len(ls) {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", s.region, s.errs[0]))
			continue
		}
		res.Reached = append(res.Reached, s.region)
		res.Found = append(res.Found, s.found...)
		if len(s.skipped) > 0 {
			res.Skipped[s.region] = s.skipped
		}
		for i, typ := range s.skipped {
			res.Errors = append(res.Errors, fmt.Sprintf("%s %s: %v", s.region, typ, s.errs[i]))
		}
	}
	return res, nil
}

// regionSweep is what the listers found in one Region, and the types
// they could not list there with why.
type regionSweep struct {
	region  string
	found   []ovm.SweptResource
	skipped []string
	errs    []error
}

func sweepRegion(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string, ls []lister) regionSweep {
	s := regionSweep{region: region}
	for _, l := range ls {
		found, err := l.list(ctx, c, creds, region)
		// What was listed before an error runs; only the stop of what was
		// not found needs the whole list.
		s.found = append(s.found, found...)
		if err != nil {
			s.skipped = append(s.skipped, l.typ)
			s.errs = append(s.errs, err)
		}
	}
	return s
}

func listInstances(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	pages := ec2.NewDescribeInstancesPaginator(c.EC2For(creds, region), &ec2.DescribeInstancesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
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
	return out, nil
}

func listVolumes(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	pages := ec2.NewDescribeVolumesPaginator(c.EC2For(creds, region), &ec2.DescribeVolumesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, v := range page.Volumes {
			out = append(out, ovm.SweptResource{Type: "ebs.volume", Region: region, ID: aws.ToString(v.VolumeId),
				Size: string(v.VolumeType) + ":" + strconv.Itoa(int(aws.ToInt32(v.Size))), Since: aws.ToTime(v.CreateTime),
				Running: v.State != ec2types.VolumeStateDeleted && v.State != ec2types.VolumeStateDeleting && v.State != ec2types.VolumeStateError})
		}
	}
	return out, nil
}

func listNATGateways(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	pages := ec2.NewDescribeNatGatewaysPaginator(c.EC2For(creds, region), &ec2.DescribeNatGatewaysInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, n := range page.NatGateways {
			out = append(out, ovm.SweptResource{Type: "nat.gateway", Region: region, ID: aws.ToString(n.NatGatewayId),
				Since:   aws.ToTime(n.CreateTime),
				Running: n.State == ec2types.NatGatewayStatePending || n.State == ec2types.NatGatewayStateAvailable})
		}
	}
	return out, nil
}

// listLoadBalancers: ID the ARN, Size the type (application, network,
// gateway); one bills from provisioning until deleted.
func listLoadBalancers(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	pages := elb.NewDescribeLoadBalancersPaginator(c.ELBFor(creds, region), &elb.DescribeLoadBalancersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, lb := range page.LoadBalancers {
			failed := lb.State != nil && lb.State.Code == elbtypes.LoadBalancerStateEnumFailed
			out = append(out, ovm.SweptResource{Type: "elb.load_balancer", Region: region, ID: aws.ToString(lb.LoadBalancerArn),
				Size: string(lb.Type), Since: aws.ToTime(lb.CreatedTime), Running: !failed})
		}
	}
	return out, nil
}

// dbNotRunning are the DB instance states whose instance hours do not
// bill (storage still does; OVM prices the instance only).
var dbNotRunning = []string{"stopped", "stopping", "deleting", "failed", "inaccessible-encryption-credentials"}

// listDBInstances: ID the DBInstanceIdentifier, Size the DBInstanceClass.
func listDBInstances(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	pages := rds.NewDescribeDBInstancesPaginator(c.RDSFor(creds, region), &rds.DescribeDBInstancesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, db := range page.DBInstances {
			out = append(out, ovm.SweptResource{Type: "rds.instance", Region: region, ID: aws.ToString(db.DBInstanceIdentifier),
				Size: aws.ToString(db.DBInstanceClass), Since: aws.ToTime(db.InstanceCreateTime),
				Running: !slices.Contains(dbNotRunning, aws.ToString(db.DBInstanceStatus))})
		}
	}
	return out, nil
}

// listEKSClusters: ID the cluster's name, no size (one price a cluster).
func listEKSClusters(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	api := c.EKSFor(creds, region)
	pages := eks.NewListClustersPaginator(api, &eks.ListClustersInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, name := range page.Clusters {
			d, err := api.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
			if err != nil {
				return out, fmt.Errorf("cluster %s: %w", name, err)
			}
			st := d.Cluster.Status
			out = append(out, ovm.SweptResource{Type: "eks.cluster", Region: region, ID: name, Since: aws.ToTime(d.Cluster.CreatedAt),
				Running: st != ekstypes.ClusterStatusDeleting && st != ekstypes.ClusterStatusFailed})
		}
	}
	return out, nil
}

// listNotebooks: ID the notebook instance's name, Size its instance type;
// it bills while Pending or InService.
func listNotebooks(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	pages := sagemaker.NewListNotebookInstancesPaginator(c.SageMakerFor(creds, region), &sagemaker.ListNotebookInstancesInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, n := range page.NotebookInstances {
			st := n.NotebookInstanceStatus
			out = append(out, ovm.SweptResource{Type: "sagemaker.notebook", Region: region, ID: aws.ToString(n.NotebookInstanceName),
				Size: string(n.InstanceType), Since: aws.ToTime(n.CreationTime),
				Running: st == smtypes.NotebookInstanceStatusInService || st == smtypes.NotebookInstanceStatusPending})
		}
	}
	return out, nil
}

// listEndpoints: ID the endpoint's name, Size "instanceType:count" (the
// price table's per-instance hosting price, times the instances its
// variants run now), which no event says (spend/cloudtrail leaves a
// created endpoint unpriced until the sweep sizes it). An endpoint whose
// variants run several instance types, or serverless ones, or whose
// configuration is gone, has no size: it stays unpriced.
func listEndpoints(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	api := c.SageMakerFor(creds, region)
	pages := sagemaker.NewListEndpointsPaginator(api, &sagemaker.ListEndpointsInput{})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, e := range page.Endpoints {
			st := e.EndpointStatus
			f := ovm.SweptResource{Type: "sagemaker.endpoint", Region: region, ID: aws.ToString(e.EndpointName), Since: aws.ToTime(e.CreationTime),
				Running: st != smtypes.EndpointStatusFailed && st != smtypes.EndpointStatusDeleting}
			if f.Running {
				if f.Size, err = endpointSize(ctx, api, e.EndpointName); err != nil {
					return out, fmt.Errorf("endpoint %s: %w", f.ID, err)
				}
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func endpointSize(ctx context.Context, api sagemakerAPI, name *string) (string, error) {
	ep, err := api.DescribeEndpoint(ctx, &sagemaker.DescribeEndpointInput{EndpointName: name})
	if err != nil {
		return "", err
	}
	cfg, err := api.DescribeEndpointConfig(ctx, &sagemaker.DescribeEndpointConfigInput{EndpointConfigName: ep.EndpointConfigName})
	if err != nil {
		return "", nil // a configuration may be deleted under its endpoint: unpriced
	}
	current := map[string]int32{}
	for _, v := range ep.ProductionVariants {
		if v.CurrentInstanceCount != nil {
			current[aws.ToString(v.VariantName)] = *v.CurrentInstanceCount
		}
	}
	var typ string
	var count int32
	for _, v := range cfg.ProductionVariants {
		if v.InstanceType == "" || (typ != "" && string(v.InstanceType) != typ) {
			return "", nil
		}
		typ = string(v.InstanceType)
		n, ok := current[aws.ToString(v.VariantName)]
		if !ok {
			n = aws.ToInt32(v.InitialInstanceCount)
		}
		count += n
	}
	if typ == "" {
		return "", nil
	}
	return typ + ":" + strconv.Itoa(int(count)), nil
}

// listTrainingJobs: ID the job's name, Size "instanceType:count"; only
// jobs InProgress run, so only they are listed (a job not listed is not
// running).
func listTrainingJobs(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	api := c.SageMakerFor(creds, region)
	pages := sagemaker.NewListTrainingJobsPaginator(api, &sagemaker.ListTrainingJobsInput{StatusEquals: smtypes.TrainingJobStatusInProgress})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, j := range page.TrainingJobSummaries {
			if j.TrainingJobStatus != smtypes.TrainingJobStatusInProgress {
				continue
			}
			d, err := api.DescribeTrainingJob(ctx, &sagemaker.DescribeTrainingJobInput{TrainingJobName: j.TrainingJobName})
			if err != nil {
				return out, fmt.Errorf("training job %s: %w", aws.ToString(j.TrainingJobName), err)
			}
			var size string
			if rc := d.ResourceConfig; rc != nil && rc.InstanceType != "" {
				size = string(rc.InstanceType) + ":" + strconv.Itoa(int(max(aws.ToInt32(rc.InstanceCount), 1)))
			}
			since := aws.ToTime(d.TrainingStartTime)
			if since.IsZero() {
				since = aws.ToTime(j.CreationTime)
			}
			out = append(out, ovm.SweptResource{Type: "sagemaker.training", Region: region, ID: aws.ToString(j.TrainingJobName),
				Size: size, Since: since, Running: true})
		}
	}
	return out, nil
}

// describeDomainsMax is how many domains DescribeDomains takes at once.
const describeDomainsMax = 5

// listDomains: ID the domain's name, Size "instanceType:count" of its data
// nodes (dedicated masters and warm nodes are not priced, as in
// spend/cloudtrail). ListDomainNames has no pages: it returns every
// domain of the Region at once.
func listDomains(ctx context.Context, c *Clients, creds aws.CredentialsProvider, region string) (out []ovm.SweptResource, _ error) {
	api := c.OpenSearchFor(creds, region)
	names, err := api.ListDomainNames(ctx, &opensearch.ListDomainNamesInput{})
	if err != nil {
		return nil, err
	}
	for batch := range slices.Chunk(names.DomainNames, describeDomainsMax) {
		in := &opensearch.DescribeDomainsInput{}
		for _, d := range batch {
			in.DomainNames = append(in.DomainNames, aws.ToString(d.DomainName))
		}
		page, err := api.DescribeDomains(ctx, in)
		if err != nil {
			return out, err
		}
		for _, d := range page.DomainStatusList {
			var size string
			if cc := d.ClusterConfig; cc != nil && cc.InstanceType != "" {
				size = string(cc.InstanceType) + ":" + strconv.Itoa(int(max(aws.ToInt32(cc.InstanceCount), 1)))
			}
			out = append(out, ovm.SweptResource{Type: "opensearch.domain", Region: region, ID: aws.ToString(d.DomainName),
				Size: size, Running: !aws.ToBool(d.Deleted)})
		}
	}
	return out, nil
}
