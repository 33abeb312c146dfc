package awsnuke

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Params is what one run's aws-nuke configuration is made from.
type Params struct {
	// Target is the AWS account to wipe.
	Target string
	// Management is the organization's management account: always on the
	// blocklist, and never a target.
	Management string
	// Protected are more accounts for the blocklist.
	Protected []string
	// Regions to wipe ("global" for IAM and other global resources).
	Regions []string
	// Include limits the run to these resource types (empty: all);
	// Exclude leaves these out.
	Include, Exclude []string
	// ProtectRoles are roles aws-nuke must keep, with their policies and
	// attachments (OVM's vended role and the creation role).
	ProtectRoles []string
	// Endpoint, when set, sends every service to one URL (moto in tests).
	// STS is among them, so aws-nuke still checks the real account id
	// against the blocklist.
	Endpoint string
	// EndpointRegion is the custom region of Endpoint (default us-east-1).
	EndpointRegion string
}

// MotoTypes are the resource types verified end to end with aws-nuke 2.16
// against moto 5 (created with the account's credentials, found, removed,
// and gone). Others fail to list against moto (500s, nil answers), so
// tests and moto set-ups include only these.
var MotoTypes = []string{"CloudWatchLogsLogGroup", "DynamoDBTable", "EC2KeyPair", "IAMPolicy", "IAMRole", "IAMUser",
	"SNSTopic", "SQSQueue", "SSMParameter", "SecretsManagerSecret"}

// services are the service names of the custom-endpoint list. aws-nuke
// sends a resource type to the first service whose name prefixes the
// lower-cased type, so more specific names come first; the catch-all ""
// (for the STS and IAM calls of the session itself) must be last.
var services = []string{"cloudwatchlogs", "cloudformation", "cloudwatch", "dynamodb", "ec2", "ecr", "iam", "kms",
	"lambda", "s3", "secretsmanager", "sns", "sqs", "ssm", "sts", ""}

var (
	accountRe = regexp.MustCompile(`^[0-9]{12}$`)
	typeRe    = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	regionRe  = regexp.MustCompile(`^(global|[a-z]{2}(-[a-z]+)+-[0-9])$`)
)

type filter struct {
	Type  string `yaml:"type"`
	Value string `yaml:"value"`
}

type nukeConfig struct {
	Regions       []string                  `yaml:"regions"`
	Blocklist     []string                  `yaml:"account-blocklist"`
	Endpoints     []endpoint                `yaml:"endpoints,omitempty"`
	Accounts      map[string]map[string]any `yaml:"accounts"`
	ResourceTypes map[string][]string       `yaml:"resource-types,omitempty"`
}

type endpoint struct {
	Region   string    `yaml:"region"`
	TLSSkip  bool      `yaml:"tls_insecure_skip_verify"`
	Services []service `yaml:"services"`
}

type service struct {
	Service string `yaml:"service"`
	URL     string `yaml:"url"`
}

// Generate returns the aws-nuke configuration of one run. It refuses any
// configuration that could touch the management account or a protected
// account: the target must be a 12-digit account id that is on no
// blocklist, and the management account is always blocklisted.
func Generate(p Params) ([]byte, error) {
	switch {
	case !accountRe.MatchString(p.Target):
		return nil, fmt.Errorf("awsnuke: target %q is not an AWS account id", p.Target)
	case !accountRe.MatchString(p.Management):
		return nil, fmt.Errorf("awsnuke: management account %q is not an AWS account id", p.Management)
	case p.Target == p.Management:
		return nil, fmt.Errorf("awsnuke: refusing to target the management account %s", p.Target)
	case slices.Contains(p.Protected, p.Target):
		return nil, fmt.Errorf("awsnuke: refusing to target protected account %s", p.Target)
	case len(p.Regions) == 0:
		return nil, fmt.Errorf("awsnuke: no regions")
	}
	for _, r := range p.Regions {
		if !regionRe.MatchString(r) {
			return nil, fmt.Errorf("awsnuke: %q is not a region", r)
		}
	}
	for _, t := range append(slices.Clone(p.Include), p.Exclude...) {
		if !typeRe.MatchString(t) {
			return nil, fmt.Errorf("awsnuke: %q is not a resource type", t)
		}
	}
	blocklist := append([]string{p.Management}, p.Protected...)
	for _, a := range blocklist {
		if !accountRe.MatchString(a) {
			return nil, fmt.Errorf("awsnuke: protected account %q is not an AWS account id", a)
		}
	}
	slices.Sort(blocklist)
	blocklist = slices.Compact(blocklist)

	filters := map[string][]filter{}
	roles := slices.Clone(p.ProtectRoles)
	slices.Sort(roles)
	for _, r := range slices.Compact(roles) {
		filters["IAMRole"] = append(filters["IAMRole"], filter{Type: "exact", Value: r})
		filters["IAMRolePolicy"] = append(filters["IAMRolePolicy"], filter{Type: "glob", Value: r + " -> *"})
		filters["IAMRolePolicyAttachment"] = append(filters["IAMRolePolicyAttachment"], filter{Type: "glob", Value: r + " -> *"})
	}
	cfg := nukeConfig{Regions: p.Regions, Blocklist: blocklist, Accounts: map[string]map[string]any{}}
	if p.Endpoint != "" {
		u, err := url.Parse(p.Endpoint)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("awsnuke: endpoint %q is not a URL", p.Endpoint)
		}
		region := p.EndpointRegion
		if region == "" {
			region = "us-east-1"
		}
		ep := endpoint{Region: region, TLSSkip: u.Scheme == "http"}
		for _, s := range services {
			ep.Services = append(ep.Services, service{Service: s, URL: p.Endpoint})
		}
		cfg.Endpoints = []endpoint{ep}
		cfg.Regions = []string{region} // a custom endpoint serves one custom region
	}
	cfg.Accounts[p.Target] = map[string]any{"filters": filters}
	if len(p.Include) > 0 || len(p.Exclude) > 0 {
		cfg.ResourceTypes = map[string][]string{}
		if len(p.Include) > 0 {
			cfg.ResourceTypes["targets"] = p.Include
		}
		if len(p.Exclude) > 0 {
			cfg.ResourceTypes["excludes"] = p.Exclude
		}
	}
	var b strings.Builder
	b.WriteString("# Generated by OVM for one run against account " + p.Target + "; do not edit.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
