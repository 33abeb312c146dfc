// Package guardrail turns a template's guardrails (ovm.Guardrails) into
// the policy document AWS enforces for a lease's life: a service control
// policy on a member account, or a permissions boundary and inline deny on
// a management account's vended role. It holds the facts the documents
// rest on (the global services a Region deny spares, the condition keys
// used, AWS's quotas on SCPs), each with its source, and checks a
// template's documents against those quotas.
//
// Every statement is a Deny that spares OVM's own role in the account
// (aws:PrincipalARN), and one statement keeps the lessee from changing
// that role: without both, a lessee could not be wiped (a Region deny
// stops aws-nuke), or could escape the guardrails by trusting itself in
// OVM's role.
package guardrail

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ovmdev/ovm"
)

// AWS's quotas on service control policies. Source: AWS Organizations
// User Guide, "Quotas and service limits"
// (docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html).
const (
	// MaxSCPChars is the largest SCP document, in characters.
	MaxSCPChars = 5120
	// MaxSCPsPerTarget is how many SCPs one account, OU or root may have
	// attached, FullAWSAccess included.
	MaxSCPsPerTarget = 5
)

// GlobalServices are the actions a Region deny spares: global services
// whose endpoints are in us-east-1 (or are not Regional), which a deny on
// aws:RequestedRegion would otherwise stop. Source: AWS Organizations User
// Guide, "General examples", "Deny access to AWS based on the requested
// AWS Region" (the SCP's NotAction list), and the IAM User Guide's "AWS:
// Denies access to AWS based on the requested Region". AWS notes the list
// may lag new global services.
var GlobalServices = []string{
	"a4b:*", "acm:*", "aws-marketplace-management:*", "aws-marketplace:*", "aws-portal:*",
	"budgets:*", "ce:*", "chime:*", "cloudfront:*", "config:*", "cur:*", "directconnect:*",
	"ec2:DescribeRegions", "ec2:DescribeTransitGateways", "ec2:DescribeVpnGateways",
	"fms:*", "globalaccelerator:*", "health:*", "iam:*", "importexport:*", "kms:*",
	"mobileanalytics:*", "networkmanager:*", "organizations:*", "pricing:*",
	"route53:*", "route53domains:*", "route53-recovery-cluster:*", "route53-recovery-control-config:*",
	"route53-recovery-readiness:*", "s3:GetAccountPublic*", "s3:ListAllMyBuckets",
	"s3:ListMultiRegionAccessPoints", "s3:PutAccountPublic*", "shield:*", "sts:*", "support:*",
	"trustedadvisor:*", "waf-regional:*", "waf:*", "wafv2:*", "wellarchitected:*",
}

// ConditionKeys are the condition keys the documents use, with their
// source; a test keeps every document to this list.
var ConditionKeys = map[string]string{
	"aws:RequestedRegion": "IAM User Guide, AWS global condition context keys",
	"aws:PrincipalARN":    "IAM User Guide, AWS global condition context keys",
	"ec2:InstanceType":    "Service Authorization Reference, Amazon EC2, condition keys (resource instance of RunInstances)",
}

// Statement is one IAM policy statement.
type Statement struct {
	Sid       string                     `json:"Sid,omitempty"`
	Effect    string                     `json:"Effect"`
	Action    List                       `json:"Action,omitempty"`
	NotAction List                       `json:"NotAction,omitempty"`
	Resource  List                       `json:"Resource"`
	Condition map[string]map[string]List `json:"Condition,omitempty"`
}

// List is a policy element that IAM accepts as a string or a list of them.
type List []string

// UnmarshalJSON accepts "x" as well as ["x", ...].
func (l *List) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*l = List{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("must be a string or a list of strings")
	}
	*l = many
	return nil
}

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// JSON is d without whitespace, as it is sent to AWS and measured.
func (d Document) JSON() string {
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // strings and maps of strings always marshal
	}
	return string(b)
}

// Hash names d's content: 12 hex digits of its SHA-256. An SCP OVM keeps
// is named after its template and this, so a changed guardrail is a new
// policy and a lease keeps the one it was made with.
func (d Document) Hash() string {
	s := sha256.Sum256([]byte(d.JSON()))
	return hex.EncodeToString(s[:6])
}

// Options are what the documents need to know about the account.
type Options struct {
	// ExemptRole is the name of OVM's own role in the account (the
	// provider's creation role): spared by every deny, and kept from the
	// lessee.
	ExemptRole string
	// Partition is the ARN partition (default aws).
	Partition string
}

// For returns g's document (nil when g generates no statement: it only
// names the operator's policies by id), whose statements deny what g
// forbids, each sparing o.ExemptRole. extra are the statements of g's
// policy files, appended as they are.
func For(g ovm.Guardrails, o Options, extra []Statement) (*Document, error) {
	if o.ExemptRole == "" {
		return nil, fmt.Errorf("guardrail: the exempt role is required")
	}
	if o.Partition == "" {
		o.Partition = "aws"
	}
	exempt := map[string]List{"aws:PrincipalARN": {fmt.Sprintf("arn:%s:iam::*:role/%s", o.Partition, o.ExemptRole)}}
	var st []Statement
	if len(g.Regions) > 0 {
		st = append(st, Statement{Sid: "OVMDenyOtherRegions", Effect: "Deny", NotAction: List(GlobalServices), Resource: List{"*"},
			Condition: map[string]map[string]List{"StringNotEquals": {"aws:RequestedRegion": sorted(g.Regions)}, "ArnNotLike": exempt}})
	}
	if len(g.DenyActions) > 0 {
		st = append(st, Statement{Sid: "OVMDenyActions", Effect: "Deny", Action: sorted(g.DenyActions), Resource: List{"*"},
			Condition: map[string]map[string]List{"ArnNotLike": exempt}})
	}
	if len(g.InstanceTypes) > 0 {
		st = append(st, Statement{Sid: "OVMDenyOtherInstanceTypes", Effect: "Deny", Action: List{"ec2:RunInstances"},
			Resource:  List{fmt.Sprintf("arn:%s:ec2:*:*:instance/*", o.Partition)},
			Condition: map[string]map[string]List{"StringNotLike": {"ec2:InstanceType": sorted(g.InstanceTypes)}, "ArnNotLike": exempt}})
	}
	for _, s := range extra {
		// The operator's statements spare OVM's role too: a deny of all of
		// EC2 must not stop the cleaning.
		s.Condition = withExemption(s.Condition, exempt["aws:PrincipalARN"])
		st = append(st, s)
	}
	if len(st) == 0 {
		return nil, nil
	}
	// The lessee may not change OVM's role, or it could trust itself in it
	// and leave every guardrail behind.
	st = append(st, Statement{Sid: "OVMProtectItsRole", Effect: "Deny",
		Action: List{"iam:AttachRolePolicy", "iam:DeleteRole", "iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy",
			"iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole"},
		Resource: List{fmt.Sprintf("arn:%s:iam::*:role/%s", o.Partition, o.ExemptRole),
			fmt.Sprintf("arn:%s:iam::*:role/%s", o.Partition, ovm.SpendForwardRole)},
		Condition: map[string]map[string]List{"ArnNotLike": exempt}})
	// Nor stop the forwarding of its calls to OVM's spend bus.
	st = append(st, Statement{Sid: "OVMProtectItsSpendRule", Effect: "Deny",
		Action:    List{"events:DeleteRule", "events:DisableRule", "events:PutRule", "events:PutTargets", "events:RemoveTargets"},
		Resource:  List{fmt.Sprintf("arn:%s:events:*:*:rule/%s", o.Partition, ovm.SpendForwardRule)},
		Condition: map[string]map[string]List{"ArnNotLike": exempt}})
	return &Document{Version: "2012-10-17", Statement: st}, nil
}

// withExemption is condition c with OVM's role among the principals
// ArnNotLike spares (added to a list the statement has, or set).
func withExemption(c map[string]map[string]List, role List) map[string]map[string]List {
	out := map[string]map[string]List{}
	for op, kv := range c {
		out[op] = map[string]List{}
		for k, v := range kv {
			out[op][k] = slices.Clone(v)
		}
	}
	if out["ArnNotLike"] == nil {
		out["ArnNotLike"] = map[string]List{}
	}
	for _, r := range role {
		if !slices.Contains(out["ArnNotLike"]["aws:PrincipalARN"], r) {
			out["ArnNotLike"]["aws:PrincipalARN"] = append(out["ArnNotLike"]["aws:PrincipalARN"], r)
		}
	}
	return out
}

func sorted(v []string) List {
	s := slices.Clone(v)
	slices.Sort(s)
	return s
}

// Check holds a template's guardrails to AWS's quotas: its document at
// most MaxSCPChars, and at most MaxSCPsPerTarget policies on the account
// (FullAWSAccess, OVM's document, the operator's by id). files are the
// policy files' contents by name; each must be a policy document whose
// statements all deny (an SCP here restricts, never grants).
func Check(g ovm.Guardrails, o Options, files map[string][]byte) (*Document, error) {
	var extra []Statement
	for _, f := range g.PolicyFiles() {
		st, err := FileStatements(f, files[f])
		if err != nil {
			return nil, err
		}
		extra = append(extra, st...)
	}
	d, err := For(g, o, extra)
	if err != nil {
		return nil, err
	}
	n := 1 + len(g.PolicyIDs()) // FullAWSAccess and the operator's
	if d != nil {
		n++
		if c := len(d.JSON()); c > MaxSCPChars {
			return nil, fmt.Errorf("its service control policy is %d characters, over AWS's quota of %d: list fewer regions, actions or instance types", c, MaxSCPChars)
		}
	}
	if n > MaxSCPsPerTarget {
		return nil, fmt.Errorf("it puts %d service control policies on the account (FullAWSAccess, %d of its own and %d by id), over AWS's quota of %d per account",
			n, n-1-len(g.PolicyIDs()), len(g.PolicyIDs()), MaxSCPsPerTarget)
	}
	return d, nil
}

// FileStatements reads a policy file's statements: valid JSON, a policy
// document of Deny statements, each with a Resource.
func FileStatements(name string, data []byte) ([]Statement, error) {
	if data == nil {
		return nil, fmt.Errorf("policy file %s was not read", name)
	}
	var d struct {
		Version   string
		Statement json.RawMessage
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("policy file %s is not valid JSON: %v", name, err)
	}
	var st []Statement
	if err := json.Unmarshal(d.Statement, &st); err != nil {
		var one Statement
		if err1 := json.Unmarshal(d.Statement, &one); err1 != nil {
			return nil, fmt.Errorf("policy file %s: Statement must be a statement or a list of them: %v", name, err)
		}
		st = []Statement{one}
	}
	if len(st) == 0 {
		return nil, fmt.Errorf("policy file %s has no statement", name)
	}
	for i, s := range st {
		switch {
		case s.Effect != "Deny":
			return nil, fmt.Errorf("policy file %s: statement %d is not a Deny: guardrails only restrict", name, i)
		case len(s.Action) == 0 && len(s.NotAction) == 0:
			return nil, fmt.Errorf("policy file %s: statement %d names no Action", name, i)
		case len(s.Resource) == 0:
			return nil, fmt.Errorf("policy file %s: statement %d names no Resource", name, i)
		}
	}
	return st, nil
}

// Summary says in plain words what g does, one line each.
func Summary(g ovm.Guardrails) []string {
	var out []string
	if len(g.Regions) > 0 {
		out = append(out, "Only these Regions: "+strings.Join(g.Regions, ", ")+" (global services such as IAM, CloudFront, Route 53 and Support are spared).")
	}
	if len(g.DenyActions) > 0 {
		out = append(out, "These actions are denied: "+strings.Join(g.DenyActions, ", ")+".")
	}
	if len(g.InstanceTypes) > 0 {
		out = append(out, "EC2 instances launched directly (RunInstances) must be of: "+strings.Join(g.InstanceTypes, ", ")+".")
	}
	if ids := g.PolicyIDs(); len(ids) > 0 {
		out = append(out, "The organization's policies "+strings.Join(ids, ", ")+" apply.")
	}
	if f := g.PolicyFiles(); len(f) > 0 {
		out = append(out, fmt.Sprintf("%d more statement file(s) apply.", len(f)))
	}
	if len(out) == 0 {
		out = append(out, "No guardrails: the account's own role has full access.")
	}
	return out
}
