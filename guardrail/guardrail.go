// Package guardrail turns a template's guardrails (ovm.Guardrails) into
// the policy document AWS enforces for a lease's life: a service control
// policy on a member account, or a permissions boundary and inline deny on
// a management account's vended role. It holds the facts the documents
// rest on (the global services a Region deny spares, the condition keys
// used, AWS's quotas on SCPs), each with its source, and checks a
// template's documents against those quotas.
//
// Every statement of an SCP is a Deny that spares OVM's own role in the
// account (aws:PrincipalARN), and one statement keeps the lessee from
// changing that role: without both, a lessee could not be wiped (a Region
// deny stops aws-nuke), or could escape the guardrails by trusting itself
// in OVM's role.
//
// A management account's document (Options.OnRole) binds the vended role,
// which OVM also uses for its own upkeep of the account: each Deny there
// binds only sessions that carry a source identity (aws:SourceIdentity),
// which every lessee's session does (OVM sets it, and a lessee's own
// principal is trusted only when it sets one) and OVM's own never does.
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

// IAM's quotas on a role's policies, for a management account's
// guardrails. Source: IAM User Guide, "IAM and AWS STS quotas"
// (docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html):
// a managed policy (the permissions boundary) is at most 6,144
// characters, and a role's inline policies together at most 10,240;
// whitespace is not counted.
const (
	MaxManagedPolicyChars = 6144
	MaxRoleInlineChars    = 10240
	// inlineReserve is what the role's other inline policy (the deny of
	// older sessions, package roleaccess) needs of MaxRoleInlineChars.
	inlineReserve = 512
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
	"aws:SourceIdentity":  "IAM User Guide, AWS global condition context keys (present when the role session was given a source identity)",
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
	// OnRole makes the document for a management account's vended role
	// (ExemptRole) instead of an SCP: its denies bind the sessions with a
	// source identity (the lessee's), it protects the role's own
	// guardrail and freeze policies, and IAM's quotas apply. The
	// organization's policies by id cannot apply (the account is outside
	// OVM's organization).
	OnRole bool
}

// exemption is the condition that spares OVM's own sessions in every
// statement: its role by ARN in an SCP, sessions without a source identity
// on a management account's role.
func (o Options) exemption() map[string]map[string]List {
	if o.OnRole {
		return map[string]map[string]List{"Null": {"aws:SourceIdentity": {"false"}}}
	}
	return map[string]map[string]List{"ArnNotLike": {"aws:PrincipalARN": {fmt.Sprintf("arn:%s:iam::*:role/%s", o.Partition, o.ExemptRole)}}}
}

// with is condition c (copied) with the exemption added.
func (o Options) with(c map[string]map[string]List) map[string]map[string]List {
	out := map[string]map[string]List{}
	for op, kv := range c {
		out[op] = map[string]List{}
		for k, v := range kv {
			out[op][k] = slices.Clone(v)
		}
	}
	for op, kv := range o.exemption() {
		if out[op] == nil {
			out[op] = map[string]List{}
		}
		for k, v := range kv {
			if op == "Null" { // one value per key: a source identity must be present
				out[op][k] = slices.Clone(v)
				continue
			}
			for _, x := range v {
				if !slices.Contains(out[op][k], x) {
					out[op][k] = append(out[op][k], x)
				}
			}
		}
	}
	return out
}

// For returns g's document (nil when g generates no statement: it only
// names the operator's policies by id), whose statements deny what g
// forbids, each sparing OVM's own sessions (Options). extra are the
// statements of g's policy files, appended as they are.
func For(g ovm.Guardrails, o Options, extra []Statement) (*Document, error) {
	if o.ExemptRole == "" {
		return nil, fmt.Errorf("guardrail: the exempt role is required")
	}
	if o.Partition == "" {
		o.Partition = "aws"
	}
	var st []Statement
	if len(g.Regions) > 0 {
		st = append(st, Statement{Sid: "OVMDenyOtherRegions", Effect: "Deny", NotAction: List(GlobalServices), Resource: List{"*"},
			Condition: o.with(map[string]map[string]List{"StringNotEquals": {"aws:RequestedRegion": sorted(g.Regions)}})})
	}
	if len(g.DenyActions) > 0 {
		st = append(st, Statement{Sid: "OVMDenyActions", Effect: "Deny", Action: sorted(g.DenyActions), Resource: List{"*"},
			Condition: o.with(nil)})
	}
	if len(g.InstanceTypes) > 0 {
		st = append(st, Statement{Sid: "OVMDenyOtherInstanceTypes", Effect: "Deny", Action: List{"ec2:RunInstances"},
			Resource:  List{fmt.Sprintf("arn:%s:ec2:*:*:instance/*", o.Partition)},
			Condition: o.with(map[string]map[string]List{"StringNotLike": {"ec2:InstanceType": sorted(g.InstanceTypes)}})})
	}
	for _, s := range extra {
		// The operator's statements spare OVM's own sessions too: a deny
		// of all of EC2 must not stop the cleaning.
		s.Condition = o.with(s.Condition)
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
		Condition: o.with(nil)})
	if o.OnRole {
		// Nor change the boundaries OVM gives the role (OVM's policies in
		// a management account are all named OVM…).
		// Nor make one of their names first (a planted OVMFrozenBoundary
		// that denies everything would lock OVM out at the freeze), at
		// any path.
		st = append(st, Statement{Sid: "OVMProtectItsPolicies", Effect: "Deny",
			Action:    List{"iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"},
			Resource:  List{fmt.Sprintf("arn:%s:iam::*:policy/OVM*", o.Partition), fmt.Sprintf("arn:%s:iam::*:policy/*/OVM*", o.Partition)},
			Condition: o.with(nil)})
		// Nor stop the trail that feeds the spend forwarding there, or
		// take its bucket (whose name is known) away from it.
		st = append(st, Statement{Sid: "OVMProtectItsTrail", Effect: "Deny",
			Action: List{"cloudtrail:DeleteTrail", "cloudtrail:PutEventSelectors", "cloudtrail:StopLogging", "cloudtrail:UpdateTrail",
				"s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration"},
			Resource: List{fmt.Sprintf("arn:%s:cloudtrail:*:*:trail/%s", o.Partition, ovm.SpendTrail),
				fmt.Sprintf("arn:%s:s3:::%s*", o.Partition, ovm.SpendTrailBucketPrefix)},
			Condition: o.with(nil)})
	}
	// Nor stop the forwarding of its calls to OVM's spend bus.
	st = append(st, Statement{Sid: "OVMProtectItsSpendRule", Effect: "Deny",
		Action:    List{"events:DeleteRule", "events:DisableRule", "events:PutRule", "events:PutTargets", "events:RemoveTargets"},
		Resource:  List{fmt.Sprintf("arn:%s:events:*:*:rule/%s", o.Partition, ovm.SpendForwardRule)},
		Condition: o.with(nil)})
	return &Document{Version: "2012-10-17", Statement: st}, nil
}

// Boundary is the permissions boundary of a management account's vended
// role for doc (a document For made with OnRole): everything allowed but
// what doc denies. A boundary only bounds, so it needs the Allow.
func Boundary(doc string) (string, error) {
	var d Document
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return "", fmt.Errorf("guardrail: the document is not JSON: %w", err)
	}
	d.Statement = append([]Statement{{Sid: "OVMAllowWithinGuardrails", Effect: "Allow", Action: List{"*"}, Resource: List{"*"}}}, d.Statement...)
	return d.JSON(), nil
}

func sorted(v []string) List {
	s := slices.Clone(v)
	slices.Sort(s)
	return s
}

// Check holds a template's guardrails to AWS's quotas. An SCP: its
// document at most MaxSCPChars, and at most MaxSCPsPerTarget policies on
// the account (FullAWSAccess, OVM's document, the operator's by id). On a
// management account's role (o.OnRole): no policy by id, the boundary at
// most MaxManagedPolicyChars and the inline deny within what the role's
// MaxRoleInlineChars leave it. files are the policy files' contents by
// name; each must be a policy document whose statements all deny
// (guardrails restrict, never grant).
func Check(g ovm.Guardrails, o Options, files map[string][]byte) (*Document, error) {
	var extra []Statement
	for _, f := range g.PolicyFiles() {
		st, err := FileStatements(f, files[f])
		if err != nil {
			return nil, err
		}
		extra = append(extra, st...)
	}
	if ids := g.PolicyIDs(); o.OnRole && len(ids) > 0 {
		return nil, fmt.Errorf("its pool's accounts are management accounts, outside OVM's organization: the organization's policies (%s) cannot apply to them; write their statements in a policy file", strings.Join(ids, ", "))
	}
	d, err := For(g, o, extra)
	if err != nil {
		return nil, err
	}
	if o.OnRole {
		if d == nil {
			return nil, nil
		}
		b, err := Boundary(d.JSON())
		if err != nil {
			return nil, err
		}
		if c := len(b); c > MaxManagedPolicyChars {
			return nil, fmt.Errorf("its permissions boundary is %d characters, over IAM's quota of %d for a managed policy: list fewer regions, actions or instance types", c, MaxManagedPolicyChars)
		}
		if c, most := len(d.JSON()), MaxRoleInlineChars-inlineReserve; c > most {
			return nil, fmt.Errorf("its inline deny is %d characters, over the %d IAM's quota of %d leaves it on the role", c, most, MaxRoleInlineChars)
		}
		return d, nil
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
