package iampolicy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Examples are the configurations whose policies the docs show, by the
// name of their marked block. Each is the example configuration of its
// page: docs/aws.md's organizations pool, docs/signup.md's signup pool with
// its Secrets Manager vault.
var Examples = map[string]Config{
	"organizations": {Organizations: []OrganizationsPool{{Pool: "members", CreationRole: "OrganizationAccountAccessRole",
		RoleName: "OVMCrossAccountRole", ParentOU: "ou-abcd-12345678", BillingContact: true}}},
	"organizations-dynamodb": {Region: "us-east-1", Account: "210987654321", DynamoDB: &DynamoDB{Table: "ovm"},
		Organizations: []OrganizationsPool{{Pool: "members", CreationRole: "OrganizationAccountAccessRole",
			RoleName: "OVMCrossAccountRole", ParentOU: "ou-abcd-12345678", RetiringOU: "ou-abcd-retiring", Guardrails: true}}},
	"signup": {Region: "us-east-1", Account: "210987654321",
		SecretsManager: &SecretsManager{Prefix: "ovm/"},
		Signup: []SignupPool{{Pool: "managers", RoleName: "OVMCrossAccountRole", SmokeTest: true,
			Inbox:      &S3Location{Bucket: "ovm-signup-mail", Prefix: "inbound/"},
			Transcribe: []S3Location{{Bucket: "ovm-captcha", Prefix: "ovm-captcha/"}},
			Connect: &Connect{InstanceARN: "arn:aws:connect:us-east-1:210987654321:instance/0123abcd-0000-4000-8000-000000000000",
				Prompts: S3Location{Bucket: "ovm-connect-prompts", Prefix: "ovm-prompts/"}},
			Burial: &Burial{GraveyardOU: "ou-abcd-graveyard"}}}},
}

// Template is the configuration deploy/cloudformation/ovm.yaml writes for
// its service, with CloudFormation's ${...} references in place of values:
// one organizations pool named after the stack, a DynamoDB table made by
// the stack (create_table off), and the retiring OU's SCP made by the stack
// (retiring_scp set), so OVM needs no write access to SCPs.
var Template = Config{Partition: "${AWS::Partition}", Region: "${AWS::Region}", Account: "${AWS::AccountId}",
	DynamoDB: &DynamoDB{Table: "${Table}"},
	Organizations: []OrganizationsPool{{Pool: "${AWS::StackName}-${PoolName}", CreationRole: "${CreationRole}",
		RoleName: "${AWS::StackName}-${VendedRoleName}", ParentOU: "${ParentOU}", RetiringOU: "${RetiringOU}",
		RetiringSCP: "${RetiringSCP}"}}}

// CloudFormation renders p as the YAML value of a PolicyDocument property,
// each line prefixed with indent. Strings holding CloudFormation's ${...}
// references become !Sub; IAM's own policy variables (${aws:...}) are
// escaped for it.
func (p Policy) CloudFormation(indent string) string {
	var b strings.Builder
	line := func(depth int, s string) { b.WriteString(indent + strings.Repeat("  ", depth) + s + "\n") }
	line(0, "Version: "+quote(p.Version))
	line(0, "Statement:")
	for _, s := range p.Statement {
		line(1, "- Sid: "+s.Sid)
		line(2, "Effect: "+s.Effect)
		line(2, "Action:")
		for _, a := range s.Action {
			line(3, "- "+scalar(a))
		}
		line(2, "Resource:")
		for _, r := range s.Resource {
			line(3, "- "+scalar(r))
		}
		if len(s.Condition) > 0 {
			line(2, "Condition:")
			for _, op := range sortedKeys(s.Condition) {
				line(3, quote(op)+":")
				for _, k := range sortedKeys(s.Condition[op]) {
					line(4, quote(k)+":")
					for _, v := range s.Condition[op][k] {
						line(5, "- "+scalar(v))
					}
				}
			}
		}
	}
	return b.String()
}

var cfnRef = regexp.MustCompile(`\$\{[A-Za-z][A-Za-z0-9]*(::[A-Za-z]+)?\}`)

// scalar is a YAML scalar: !Sub "..." when s references the template.
func scalar(s string) string {
	if !cfnRef.MatchString(s) {
		return quote(s)
	}
	return "!Sub " + quote(strings.ReplaceAll(s, "${aws:", "${!aws:"))
}

// quote is s as a YAML double-quoted scalar (JSON's quoting is valid YAML).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// A generated copy sits between two marker lines in a file of the
// repository: in Markdown, a ```json block between
//
//	<!-- iampolicy:begin NAME -->
//	<!-- iampolicy:end -->
//
// (NAME is a key of Examples), and in the template, the role's policy
// document between "# iampolicy:begin template" and "# iampolicy:end"
// comments, indented like the begin line.
var (
	mdBlock  = regexp.MustCompile(`(?s)(<!-- iampolicy:begin ([a-z0-9-]+) -->\n).*?(<!-- iampolicy:end -->)`)
	cfnBlock = regexp.MustCompile(`(?s)(\n([ ]*)# iampolicy:begin template\n)(?:.*?\n)??([ ]*# iampolicy:end)`)
)

// RegenerateCommand is what rewrites every generated copy.
const RegenerateCommand = "go test ./iampolicy/ -run TestGeneratedCopies -update"

// Rewrite returns content with every marked block generated afresh, and
// the number of blocks found.
func Rewrite(content string) (string, int, error) {
	var err error
	n := 0
	content = mdBlock.ReplaceAllStringFunc(content, func(m string) string {
		sub := mdBlock.FindStringSubmatch(m)
		c, ok := Examples[sub[2]]
		if !ok {
			err = fmt.Errorf("iampolicy:begin %s: no such example (have %s)", sub[2], strings.Join(sortedKeys(Examples), ", "))
			return m
		}
		n++
		return sub[1] + "```json\n" + string(For(c).JSON()) + "```\n" + sub[3]
	})
	content = cfnBlock.ReplaceAllStringFunc(content, func(m string) string {
		sub := cfnBlock.FindStringSubmatch(m)
		n++
		return sub[1] + For(Template).CloudFormation(sub[2]) + sub[3]
	})
	return content, n, err
}

// GeneratedFiles are the files, relative to the repository's root, that
// hold generated copies.
var GeneratedFiles = []string{"docs/aws.md", "docs/signup.md", "deploy/cloudformation/ovm.yaml"}

// RewriteFile rewrites the marked blocks of path in place when write is
// set; it reports whether the file differed from the generated copies.
func RewriteFile(path string, write bool) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	out, n, err := Rewrite(string(b))
	if err != nil {
		return false, fmt.Errorf("%s: %w", filepath.ToSlash(path), err)
	}
	if n == 0 {
		return false, fmt.Errorf("%s: no iampolicy:begin block", filepath.ToSlash(path))
	}
	if out == string(b) {
		return false, nil
	}
	if write {
		return true, os.WriteFile(path, []byte(out), 0o644)
	}
	return true, nil
}
