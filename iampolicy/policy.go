package iampolicy

import (
	"bytes"
	"encoding/json"
)

// Version is the policy language version of every policy.
const Version = "2012-10-17"

// Policy is an IAM identity policy.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one Allow statement. Action and Resource are always lists;
// Condition maps an operator (StringEquals) to condition keys and values.
type Statement struct {
	Sid       string                         `json:"Sid"`
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// JSON is the policy as indented JSON with a final newline, the form `ovm
// iam-policy` prints and the docs show.
func (p Policy) JSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		panic(err) // only strings, lists and maps: cannot fail
	}
	return b.Bytes()
}

// IAM's size quotas, in characters without whitespace.
const (
	ManagedPolicyQuota    = 6144
	InlineRolePolicyQuota = 10240
)

// Size is the policy's length as IAM counts it against its quotas (without
// whitespace).
func (p Policy) Size() int {
	b, _ := json.Marshal(p)
	return len(b)
}
