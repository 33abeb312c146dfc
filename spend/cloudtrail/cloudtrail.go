// Package cloudtrail reads the lessee's management events, as CloudTrail
// delivers them to EventBridge ("AWS API Call via CloudTrail"), into spend
// changes of the resources OVM prices, and is the spend source that takes
// them from a queue (Source).
//
// The fields read are those of the APIs' request and response shapes
// (RunInstances' responseElements.instancesSet.items[].instanceType, ...);
// what an event does not say (a start that names no instance type, an
// endpoint's instances) the ledger leaves unpriced until the sweep sizes
// it. Failed calls (errorCode) change nothing; calls made by OVM's own
// roles without a source identity are not the lessee's spend.
package cloudtrail

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/spend/prices"
)

// DetailType is the detail-type of CloudTrail's API calls on EventBridge.
const DetailType = "AWS API Call via CloudTrail"

// Sources are the event sources of the services OVM prices (the
// EventBridge rule's pattern).
var Sources = []string{"aws.ec2", "aws.elasticloadbalancing", "aws.rds", "aws.eks", "aws.sagemaker", "aws.es"}

// EventNames are the calls OVM reads (the rule's pattern).
var EventNames = []string{"RunInstances", "StartInstances", "StopInstances", "TerminateInstances", "ModifyInstanceAttribute",
	"CreateVolume", "DeleteVolume", "CreateNatGateway", "DeleteNatGateway", "CreateLoadBalancer", "DeleteLoadBalancer",
	"CreateDBInstance", "DeleteDBInstance", "StartDBInstance", "StopDBInstance", "ModifyDBInstance",
	"CreateCluster", "DeleteCluster", "CreateNotebookInstance", "StartNotebookInstance", "StopNotebookInstance",
	"DeleteNotebookInstance", "CreateTrainingJob", "CreateEndpoint", "DeleteEndpoint", "CreateDomain", "DeleteDomain"}

// Event is one event read.
type Event struct {
	// ID is CloudTrail's eventID (the envelope's id when there is none).
	ID           string
	AWSAccountID string
	Region       string
	At           time.Time
	Name         string
	// Changes are the priced changes it makes (none for a failed call, a
	// call OVM made, or a call that changes nothing priced).
	Changes []*ovm.SpendChange
}

// Parser reads events.
type Parser struct {
	// Prices prices the changes (nil: every resource is unpriced).
	Prices *prices.Table
	// OwnRoles are the names of the roles OVM acts through in leased
	// accounts; their calls without a source identity are OVM's own.
	OwnRoles []string
}

type envelope struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

type record struct {
	EventID      string    `json:"eventID"`
	EventName    string    `json:"eventName"`
	EventSource  string    `json:"eventSource"`
	EventTime    time.Time `json:"eventTime"`
	AWSRegion    string    `json:"awsRegion"`
	ErrorCode    string    `json:"errorCode"`
	Recipient    string    `json:"recipientAccountId"`
	UserIdentity struct {
		Type           string `json:"type"`
		ARN            string `json:"arn"`
		SessionContext struct {
			SourceIdentity string `json:"sourceIdentity"`
			SessionIssuer  struct {
				ARN      string `json:"arn"`
				UserName string `json:"userName"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	Request  map[string]any `json:"requestParameters"`
	Response map[string]any `json:"responseElements"`
}

// ErrNotAnEvent: the body is not a CloudTrail event on EventBridge.
var ErrNotAnEvent = errors.New("not a CloudTrail event delivered by EventBridge")

// Parse reads one message body. An error names what is wrong; when the
// account is known it is in the Event returned with the error.
func (p *Parser) Parse(body []byte) (*Event, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || env.DetailType == "" {
		return nil, fmt.Errorf("%w: %v", ErrNotAnEvent, errOr(err, "no detail-type"))
	}
	ev := &Event{ID: env.ID, AWSAccountID: env.Account, Region: env.Region, At: env.Time}
	if env.DetailType != DetailType {
		return ev, fmt.Errorf("%w: detail-type %q", ErrNotAnEvent, trim(env.DetailType))
	}
	var r record
	if err := json.Unmarshal(env.Detail, &r); err != nil {
		return ev, fmt.Errorf("%w: detail: %v", ErrNotAnEvent, err)
	}
	if r.EventID != "" {
		ev.ID = r.EventID
	}
	if r.Recipient != "" && ev.AWSAccountID == "" {
		ev.AWSAccountID = r.Recipient
	}
	if r.AWSRegion != "" {
		ev.Region = r.AWSRegion
	}
	if !r.EventTime.IsZero() {
		ev.At = r.EventTime
	}
	ev.Name = r.EventName
	if !strings.HasPrefix(env.Source, "aws.") {
		// Only AWS's services put aws.* sources on a bus (PutEvents refuses
		// them): anything else was put by someone, a lessee for one.
		return ev, fmt.Errorf("%w: source %q is not an AWS service's", ErrNotAnEvent, trim(env.Source))
	}
	if ev.ID == "" || ev.AWSAccountID == "" || ev.Region == "" || ev.At.IsZero() {
		return ev, fmt.Errorf("%w: no event id, account, Region or time", ErrNotAnEvent)
	}
	if r.ErrorCode != "" || p.own(&r) || !slices.Contains(Sources, env.Source) {
		return ev, nil
	}
	if svc, ok := serviceOf[r.EventName]; ok && (env.Source != "aws."+svc || r.EventSource != svc+".amazonaws.com") {
		return ev, nil // another service's call of that name (ECS's DeleteCluster)
	}
	changes, err := changesOf(&r)
	if err != nil {
		return ev, fmt.Errorf("%s: %w", trim(r.EventName), err)
	}
	for _, c := range changes {
		c.EventID, c.At, c.Region = ev.ID, ev.At, ev.Region
		if (c.Action != ovm.SpendStart && c.Action != ovm.SpendModify) || c.Unpriced || (c.Size == "" && needsSize(c.Type)) {
			continue // nothing to price, or the ledger prices it by what it knows
		}
		c.USDPerHour, c.Unpriced = p.price(c.Type, c.Size, ev.Region)
	}
	ev.Changes = changes
	return ev, nil
}

// needsSize reports whether a type's price depends on its size (a start
// without one is priced by what the ledger knows).
func needsSize(typ string) bool { return typ != "nat.gateway" && typ != "eks.cluster" }

func (p *Parser) price(typ, size, region string) (float64, bool) {
	if p.Prices == nil {
		return 0, true
	}
	usd, ok := p.Prices.HourlyUSD(typ, size, region)
	return usd, !ok
}

// own reports a call OVM made: through one of its roles, with no source
// identity (every lessee session OVM issues carries one).
func (p *Parser) own(r *record) bool {
	if r.UserIdentity.SessionContext.SourceIdentity != "" {
		return false
	}
	issuer := r.UserIdentity.SessionContext.SessionIssuer.UserName
	if issuer == "" {
		if _, name, ok := strings.Cut(r.UserIdentity.SessionContext.SessionIssuer.ARN, ":role/"); ok {
			issuer = name[strings.LastIndex(name, "/")+1:]
		}
	}
	for _, role := range p.OwnRoles {
		if issuer != "" && issuer == role {
			return true
		}
	}
	return false
}

func errOr(err error, msg string) string {
	if err != nil {
		return err.Error()
	}
	return msg
}

// trim keeps what an event says short in errors (an outsider may write
// the queue's messages when its policy is too open).
func trim(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// changesOf maps one successful call to its changes (Region and time set
// by the caller).
func changesOf(r *record) ([]*ovm.SpendChange, error) {
	req, resp := obj(r.Request), obj(r.Response)
	one := func(a ovm.SpendAction, typ, id, size string) ([]*ovm.SpendChange, error) {
		if id == "" {
			return nil, fmt.Errorf("no resource id in the event")
		}
		return []*ovm.SpendChange{{Action: a, Type: typ, ID: id, Size: size}}, nil
	}
	if c, ok := byRequest[r.EventName]; ok {
		if r.EventName == "DeleteLoadBalancer" && req.str("loadBalancerArn") == "" && req.str("loadBalancerName") != "" {
			return nil, nil // a Classic Load Balancer's (API 2012-06-01): not priced
		}
		id := req.first(strings.Split(c.idField, "|")...)
		if c.typ == "rds.instance" {
			id = strings.ToLower(id)
		}
		return one(c.action, c.typ, id, "")
	}
	switch r.EventName {
	case "RunInstances", "StartInstances", "StopInstances", "TerminateInstances":
		action := map[string]ovm.SpendAction{"RunInstances": ovm.SpendStart, "StartInstances": ovm.SpendStart,
			"StopInstances": ovm.SpendStop, "TerminateInstances": ovm.SpendDelete}[r.EventName]
		var out []*ovm.SpendChange
		for _, it := range list(resp.obj("instancesSet").get("items")) {
			item := obj(it)
			size := ""
			if r.EventName == "RunInstances" {
				size = item.str("instanceType")
			}
			if id := item.str("instanceId"); id != "" {
				out = append(out, &ovm.SpendChange{Action: action, Type: "ec2.instance", ID: id, Size: size})
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no instance in responseElements.instancesSet")
		}
		return out, nil
	case "ModifyInstanceAttribute":
		size := req.obj("instanceType").str("value")
		if size == "" {
			return nil, nil // another attribute: nothing priced changes
		}
		return one(ovm.SpendModify, "ec2.instance", req.str("instanceId"), size)
	case "CreateVolume":
		gb := resp.num("size")
		return one(ovm.SpendStart, "ebs.volume", resp.str("volumeId"), resp.str("volumeType")+":"+gb)
	case "CreateNatGateway":
		gw := resp.obj("CreateNatGatewayResponse").obj("natGateway")
		if gw == nil {
			gw = resp.obj("natGateway")
		}
		return one(ovm.SpendStart, "nat.gateway", gw.str("natGatewayId"), "")
	case "DeleteNatGateway":
		id := req.obj("DeleteNatGatewayRequest").str("NatGatewayId")
		if id == "" {
			id = req.str("natGatewayId")
		}
		return one(ovm.SpendDelete, "nat.gateway", id, "")
	case "CreateLoadBalancer":
		// Elastic Load Balancing, Application Load Balancers guide, "Log
		// API calls for your Application Load Balancer using CloudTrail"
		// (load-balancer-cloudtrail-logs): responseElements.loadBalancers[]
		// .loadBalancerArn and .type.
		if resp.get("loadBalancers") == nil && req.str("loadBalancerName") != "" {
			return nil, nil // a Classic Load Balancer's (API 2012-06-01): not priced
		}
		var out []*ovm.SpendChange
		for _, it := range list(resp.get("loadBalancers")) {
			lb := obj(it)
			if arn := lb.str("loadBalancerArn"); arn != "" {
				out = append(out, &ovm.SpendChange{Action: ovm.SpendStart, Type: "elb.load_balancer", ID: arn, Size: lb.str("type")})
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no load balancer in responseElements")
		}
		return out, nil
	case "CreateDBInstance":
		// Amazon RDS User Guide, "Monitoring Amazon RDS API calls in AWS
		// CloudTrail" (logging-using-cloudtrail), its CreateDBInstance
		// entry: responseElements.dBInstanceIdentifier and .dBInstanceClass.
		// RDS keeps identifiers in lower case (the API reference's
		// DBInstanceIdentifier), and a later call may name it otherwise.
		return one(ovm.SpendStart, "rds.instance", strings.ToLower(resp.str("dBInstanceIdentifier")), resp.str("dBInstanceClass"))
	case "ModifyDBInstance":
		// No documented entry: the request's fields as CreateDBInstance's
		// requestParameters spell them (dBInstanceIdentifier, dBInstanceClass).
		if class := req.str("dBInstanceClass"); class != "" {
			return one(ovm.SpendModify, "rds.instance", strings.ToLower(req.str("dBInstanceIdentifier")), class)
		}
		return nil, nil
	case "CreateCluster":
		// Amazon EKS User Guide, "Analyze AWS CloudTrail log file entries"
		// (understanding-service-name-entries): its CreateCluster entry
		// names the cluster responseElements.cluster.clusterName, where
		// the API's Cluster shape says name: either is read.
		cl := resp.obj("cluster")
		return one(ovm.SpendStart, "eks.cluster", cl.first("name", "clusterName"), "")
	case "CreateNotebookInstance":
		// No documented entry (the SageMaker guide's "Log Amazon SageMaker
		// API calls with AWS CloudTrail" shows CreateEndpoint and
		// CreateModel): the request's fields in the lower camel case its
		// entries use.
		return one(ovm.SpendStart, "sagemaker.notebook", req.str("notebookInstanceName"), req.str("instanceType"))
	case "CreateTrainingJob":
		// No documented entry either: requestParameters.trainingJobName,
		// .resourceConfig and .stoppingCondition as for
		// CreateNotebookInstance.
		// A job ends by itself and no event says so: it counts for its
		// longest run (stoppingCondition.maxRuntimeInSeconds, 1 day by
		// default), the sweep and the bill correct it.
		rc := req.obj("resourceConfig")
		c, err := one(ovm.SpendStart, "sagemaker.training", req.str("trainingJobName"), rc.str("instanceType")+":"+orOne(rc.num("instanceCount")))
		if len(c) == 1 {
			secs, _ := strconv.Atoi(req.obj("stoppingCondition").num("maxRuntimeInSeconds"))
			if secs <= 0 {
				secs = 86400
			}
			c[0].Until = r.EventTime.Add(time.Duration(secs) * time.Second)
		}
		return c, err
	case "CreateEndpoint":
		// SageMaker developer guide, "Log Amazon SageMaker API calls with
		// AWS CloudTrail" (logging-using-cloudtrail), its CreateEndpoint
		// entry: requestParameters.endpointName. The endpoint's instances are in its configuration, not in the
		// call: unpriced until the sweep sizes it.
		c, err := one(ovm.SpendStart, "sagemaker.endpoint", req.str("endpointName"), "")
		if len(c) == 1 {
			c[0].Unpriced = true
		}
		return c, err
	case "CreateDomain":
		// OpenSearch Service developer guide, "Monitoring Amazon OpenSearch
		// Service API calls with AWS CloudTrail"
		// (managedomains-cloudtrailauditing), its CreateDomain entry:
		// requestParameters.domainName, .clusterConfig.instanceType and
		// .instanceCount. (The 2015 API's CreateElasticsearchDomain is not
		// read: the sweep finds its domains.)
		cc := req.obj("clusterConfig")
		return one(ovm.SpendStart, "opensearch.domain", req.str("domainName"), cc.str("instanceType")+":"+orOne(cc.num("instanceCount")))
	}
	return nil, nil
}

// serviceOf is the service each call OVM reads belongs to: its event
// must come from that service (source aws.<service>, eventSource
// <service>.amazonaws.com).
var serviceOf = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"RunInstances", "StartInstances", "StopInstances", "TerminateInstances", "ModifyInstanceAttribute",
		"CreateVolume", "CreateNatGateway", "DeleteNatGateway"} {
		m[n] = "ec2"
	}
	for n, svc := range map[string]string{"CreateLoadBalancer": "elasticloadbalancing", "CreateDBInstance": "rds", "ModifyDBInstance": "rds",
		"CreateCluster": "eks", "CreateNotebookInstance": "sagemaker", "CreateTrainingJob": "sagemaker", "CreateEndpoint": "sagemaker",
		"CreateDomain": "es"} {
		m[n] = svc
	}
	for n, c := range byRequest {
		m[n] = c.service
	}
	return m
}()

// byRequest are the calls that name their resource in a request field
// (the first of idField's "|"-separated names present) and change nothing
// but whether it runs. DeleteLoadBalancer's loadBalancerArn is the
// Application Load Balancers guide's DeleteLoadBalancer entry's.
var byRequest = map[string]struct {
	action                ovm.SpendAction
	service, typ, idField string
}{
	"DeleteVolume":           {ovm.SpendDelete, "ec2", "ebs.volume", "volumeId"},
	"DeleteLoadBalancer":     {ovm.SpendDelete, "elasticloadbalancing", "elb.load_balancer", "loadBalancerArn"},
	"StartDBInstance":        {ovm.SpendStart, "rds", "rds.instance", "dBInstanceIdentifier"},
	"StopDBInstance":         {ovm.SpendStop, "rds", "rds.instance", "dBInstanceIdentifier"},
	"DeleteDBInstance":       {ovm.SpendDelete, "rds", "rds.instance", "dBInstanceIdentifier"},
	"DeleteCluster":          {ovm.SpendDelete, "eks", "eks.cluster", "name|clusterName"}, // as CreateCluster
	"StartNotebookInstance":  {ovm.SpendStart, "sagemaker", "sagemaker.notebook", "notebookInstanceName"},
	"StopNotebookInstance":   {ovm.SpendStop, "sagemaker", "sagemaker.notebook", "notebookInstanceName"},
	"DeleteNotebookInstance": {ovm.SpendDelete, "sagemaker", "sagemaker.notebook", "notebookInstanceName"},
	"DeleteEndpoint":         {ovm.SpendDelete, "sagemaker", "sagemaker.endpoint", "endpointName"},
	"DeleteDomain":           {ovm.SpendDelete, "es", "opensearch.domain", "domainName"},
}

func orOne(n string) string {
	if n == "" {
		return "1"
	}
	return n
}

// jobj is a JSON object as decoded; its getters tolerate absence.
type jobj map[string]any

func obj(v any) jobj {
	switch m := v.(type) {
	case map[string]any:
		return m
	case jobj:
		return m
	}
	return nil
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func (o jobj) get(k string) any  { return o[k] }
func (o jobj) obj(k string) jobj { return obj(o[k]) }

func (o jobj) str(k string) string {
	s, _ := o[k].(string)
	return s
}

// first is the first of keys' string fields that is not empty.
func (o jobj) first(keys ...string) string {
	for _, k := range keys {
		if s := o.str(k); s != "" {
			return s
		}
	}
	return ""
}

// num is a number field as a decimal string ("" when absent or not a
// whole non-negative number).
func (o jobj) num(k string) string {
	switch v := o[k].(type) {
	case float64:
		if v >= 0 && v == float64(int64(v)) {
			return strconv.FormatInt(int64(v), 10)
		}
	case string:
		if n, err := strconv.ParseUint(v, 10, 32); err == nil {
			return strconv.FormatUint(n, 10)
		}
	}
	return ""
}
