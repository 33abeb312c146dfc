package cloudtrail_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/spend/cloudtrail"
	"github.com/ovmdev/ovm/spend/prices"
)

var at = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

func parse(t *testing.T, s cloudtrail.Spec) *cloudtrail.Event {
	t.Helper()
	if s.Account == "" {
		s.Account, s.Region, s.At, s.Role = "111122223333", "us-east-1", at, "dev"
	}
	if s.ID == "" {
		s.ID = "ev-" + s.Name
	}
	p := &cloudtrail.Parser{Prices: prices.Default(), OwnRoles: []string{"OrganizationAccountAccessRole"}}
	ev, err := p.Parse(cloudtrail.Build(s))
	if err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	return ev
}

func TestEachPricedCallIsReadIntoItsChange(t *testing.T) {
	items := func(m ...map[string]any) map[string]any {
		l := make([]any, len(m))
		for i, x := range m {
			l[i] = x
		}
		return map[string]any{"instancesSet": map[string]any{"items": l}}
	}
	for _, c := range []struct {
		spec       cloudtrail.Spec
		action     ovm.SpendAction
		typ, id    string
		usdPerHour float64
		unpriced   bool
	}{
		{cloudtrail.Spec{Name: "RunInstances", Service: "ec2", Response: items(map[string]any{"instanceId": "i-1", "instanceType": "t3.micro"})},
			ovm.SpendStart, "ec2.instance", "i-1", 0.0104, false},
		{cloudtrail.Spec{Name: "RunInstances", Service: "ec2", Response: items(map[string]any{"instanceId": "i-2", "instanceType": "p5.48xlarge"})},
			ovm.SpendStart, "ec2.instance", "i-2", 0, true},
		{cloudtrail.Spec{Name: "StopInstances", Service: "ec2", Response: items(map[string]any{"instanceId": "i-1"})}, ovm.SpendStop, "ec2.instance", "i-1", 0, false},
		{cloudtrail.Spec{Name: "TerminateInstances", Service: "ec2", Response: items(map[string]any{"instanceId": "i-1"})}, ovm.SpendDelete, "ec2.instance", "i-1", 0, false},
		{cloudtrail.Spec{Name: "ModifyInstanceAttribute", Service: "ec2", Request: map[string]any{"instanceId": "i-1", "instanceType": map[string]any{"value": "m5.large"}}},
			ovm.SpendModify, "ec2.instance", "i-1", 0.096, false},
		{cloudtrail.Spec{Name: "CreateVolume", Service: "ec2", Response: map[string]any{"volumeId": "vol-1", "volumeType": "gp3", "size": 730}},
			ovm.SpendStart, "ebs.volume", "vol-1", 0.08, false},
		{cloudtrail.Spec{Name: "CreateLoadBalancer", Service: "elasticloadbalancing", Response: map[string]any{"loadBalancers": []any{map[string]any{"loadBalancerArn": "arn:lb", "type": "application"}}}},
			ovm.SpendStart, "elb.load_balancer", "arn:lb", 0.0225, false},
		{cloudtrail.Spec{Name: "CreateDBInstance", Service: "rds", Response: map[string]any{"dBInstanceIdentifier": "db1", "dBInstanceClass": "db.t3.micro"}},
			ovm.SpendStart, "rds.instance", "db1", 0.017, false},
		{cloudtrail.Spec{Name: "DeleteDBInstance", Service: "rds", Request: map[string]any{"dBInstanceIdentifier": "db1"}},
			ovm.SpendDelete, "rds.instance", "db1", 0, false},
		{cloudtrail.Spec{Name: "StopNotebookInstance", Service: "sagemaker", Request: map[string]any{"notebookInstanceName": "nb"}},
			ovm.SpendStop, "sagemaker.notebook", "nb", 0, false},
		{cloudtrail.Spec{Name: "CreateCluster", Service: "eks", Response: map[string]any{"cluster": map[string]any{"name": "k"}}},
			ovm.SpendStart, "eks.cluster", "k", 0.10, false},
		{cloudtrail.Spec{Name: "CreateEndpoint", Service: "sagemaker", Request: map[string]any{"endpointName": "ep"}},
			ovm.SpendStart, "sagemaker.endpoint", "ep", 0, true},
		{cloudtrail.Spec{Name: "CreateDomain", Service: "es", Request: map[string]any{"domainName": "d", "clusterConfig": map[string]any{"instanceType": "m5.large.search", "instanceCount": 3}}},
			ovm.SpendStart, "opensearch.domain", "d", 0.426, false},
	} {
		ev := parse(t, c.spec)
		if len(ev.Changes) != 1 {
			t.Errorf("%s: %d changes", c.spec.Name, len(ev.Changes))
			continue
		}
		ch := ev.Changes[0]
		if ch.Action != c.action || ch.Type != c.typ || ch.ID != c.id || math.Abs(ch.USDPerHour-c.usdPerHour) > 1e-9 || ch.Unpriced != c.unpriced ||
			ch.EventID != ev.ID || !ch.At.Equal(at) || ch.Region != "us-east-1" {
			t.Errorf("%s: %+v", c.spec.Name, ch)
		}
	}
}

// The entries AWS's documentation shows (the names of cloudtrail.go's
// comments) are read as the API's shapes are: EKS's CreateCluster entry
// names its cluster clusterName, RDS identifiers are one whatever their
// case, and a Classic Load Balancer's calls (same names, same service) are
// not priced and no error.
func TestTheDocumentedEntriesAreRead(t *testing.T) {
	for _, c := range []struct {
		spec    cloudtrail.Spec
		typ, id string
	}{
		{cloudtrail.Spec{Name: "CreateCluster", Service: "eks", Request: map[string]any{"clusterName": "test"},
			Response: map[string]any{"cluster": map[string]any{"clusterName": "test", "status": "CREATING"}}}, "eks.cluster", "test"},
		{cloudtrail.Spec{Name: "DeleteCluster", Service: "eks", Request: map[string]any{"clusterName": "test"}}, "eks.cluster", "test"},
		{cloudtrail.Spec{Name: "DeleteCluster", Service: "eks", Request: map[string]any{"name": "test"}}, "eks.cluster", "test"},
		{cloudtrail.Spec{Name: "StopDBInstance", Service: "rds", Request: map[string]any{"dBInstanceIdentifier": "Test-Instance"}}, "rds.instance", "test-instance"},
		{cloudtrail.Spec{Name: "ModifyDBInstance", Service: "rds", Request: map[string]any{"dBInstanceIdentifier": "Test-Instance", "dBInstanceClass": "db.m5.large"}},
			"rds.instance", "test-instance"},
		{cloudtrail.Spec{Name: "CreateLoadBalancer", Service: "elasticloadbalancing", Request: map[string]any{"loadBalancerName": "classic"},
			Response: map[string]any{"dNSName": "classic-1.us-west-2.elb.amazonaws.com"}}, "", ""},
		{cloudtrail.Spec{Name: "DeleteLoadBalancer", Service: "elasticloadbalancing", Request: map[string]any{"loadBalancerName": "classic"}}, "", ""},
	} {
		ev := parse(t, c.spec)
		if c.typ == "" {
			if len(ev.Changes) != 0 {
				t.Errorf("%s of a Classic Load Balancer: %+v", c.spec.Name, ev.Changes[0])
			}
			continue
		}
		if len(ev.Changes) != 1 || ev.Changes[0].Type != c.typ || ev.Changes[0].ID != c.id {
			t.Errorf("%s %v: %d changes %+v, want %s %s", c.spec.Name, c.spec.Request, len(ev.Changes), ev.Changes, c.typ, c.id)
		}
	}
}

func TestAnotherServicesCallOfTheSameNameChangesNothing(t *testing.T) {
	if ev := parse(t, cloudtrail.Spec{Name: "DeleteCluster", Service: "ecs", Request: map[string]any{"name": "k"}}); len(ev.Changes) != 0 {
		t.Fatalf("ECS's DeleteCluster deleted an EKS cluster: %+v", ev.Changes)
	}
}

func TestFailedCallsAndOVMsOwnCallsAreNotTheLesseesSpend(t *testing.T) {
	run := map[string]any{"instancesSet": map[string]any{"items": []any{map[string]any{"instanceId": "i-1", "instanceType": "t3.micro"}}}}
	if ev := parse(t, cloudtrail.Spec{Name: "RunInstances", Service: "ec2", Response: run, ErrorCode: "UnauthorizedOperation"}); len(ev.Changes) != 0 {
		t.Errorf("a refused launch counts: %+v", ev.Changes)
	}
	own := cloudtrail.Spec{Account: "111122223333", Region: "us-east-1", At: at, Name: "RunInstances", Service: "ec2", Response: run, Role: "OrganizationAccountAccessRole"}
	if ev := parse(t, own); len(ev.Changes) != 0 {
		t.Errorf("OVM's own launch counts: %+v", ev.Changes)
	}
	own.SourceIdentity = "alice" // a lessee's session through the same role
	if ev := parse(t, own); len(ev.Changes) != 1 {
		t.Errorf("the lessee's launch through OVM's role does not count")
	}
}

// A lessee who can put events on a bus (its own, forwarded) cannot put
// an AWS service's source: an event from another source is refused, so a
// forged TerminateInstances cannot hide a running instance.
func TestAnEventNotFromAnAWSServiceIsRefused(t *testing.T) {
	body := cloudtrail.Build(cloudtrail.Spec{ID: "forged", Account: "111122223333", Region: "us-east-1", At: at, Name: "TerminateInstances",
		Service: "lessee.custom", Role: "dev", Response: map[string]any{"instancesSet": map[string]any{"items": []any{map[string]any{"instanceId": "i-1"}}}}})
	forged := bytes.Replace(body, []byte(`"source":"aws.lessee.custom"`), []byte(`"source":"lessee.custom"`), 1)
	if bytes.Equal(forged, body) {
		t.Fatal("the test's event has no source to forge")
	}
	ev, err := (&cloudtrail.Parser{}).Parse(forged)
	if !errors.Is(err, cloudtrail.ErrNotAnEvent) || ev == nil || len(ev.Changes) != 0 {
		t.Fatalf("a forged event: %+v %v", ev, err)
	}
}

func TestWhatIsNotAnEventIsAnError(t *testing.T) {
	p := &cloudtrail.Parser{}
	for _, body := range []string{`not json`, `{}`, `{"detail-type": "EC2 Instance State-change Notification", "account": "111122223333"}`,
		`{"detail-type": "AWS API Call via CloudTrail", "account": "111122223333", "detail": {"eventName": "RunInstances"}}`} {
		if _, err := p.Parse([]byte(body)); !errors.Is(err, cloudtrail.ErrNotAnEvent) {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func TestATrainingJobCountsForItsLongestRun(t *testing.T) {
	ev := parse(t, cloudtrail.Spec{Name: "CreateTrainingJob", Service: "sagemaker", Request: map[string]any{"trainingJobName": "j",
		"resourceConfig": map[string]any{"instanceType": "ml.m5.large", "instanceCount": 2}, "stoppingCondition": map[string]any{"maxRuntimeInSeconds": 3600}}})
	if c := ev.Changes; len(c) != 1 || !c[0].Until.Equal(at.Add(time.Hour)) || math.Abs(c[0].USDPerHour-0.23) > 1e-9 {
		t.Fatalf("training job %+v", c)
	}
}
