package awsnuke

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
)

// Config is a recycle pool's `nuke:` block: which aws-nuke runs, and what
// its wipes may touch.
type Config struct {
	// Binary is the aws-nuke executable (default "aws-nuke" on PATH).
	Binary string `yaml:"binary"`
	// Regions to wipe (default: global and the `aws:` block's region).
	Regions []string `yaml:"regions"`
	// Include limits the wipe to these resource types. Empty: every type
	// aws-nuke knows, against AWS; MotoTypes when the `aws:` block sends
	// every service to one endpoint (moto), where the other types fail to
	// list or never finish (docs/recycle.md). A list given is used as it
	// is, with or without an endpoint. Exclude leaves types out.
	// Every name must be one of `aws-nuke resource-types`.
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
	// ProtectedAccounts are never touched, besides the management account.
	ProtectedAccounts []string `yaml:"protected_accounts"`
}

// Params returns the run parameters of c against target under management,
// for AWS in region (endpoint: one URL for every service, "" for AWS).
func (c Config) Params(target, management, region, endpoint string) Params {
	regions := c.Regions
	if len(regions) == 0 {
		regions = []string{"global", region}
	}
	include := c.Include
	if len(include) == 0 && endpoint != "" {
		include = MotoTypes
	}
	return Params{Target: target, Management: management, Protected: c.ProtectedAccounts, Regions: regions,
		Include: include, Exclude: c.Exclude, Endpoint: endpoint, EndpointRegion: region}
}

// Validate checks that aws-nuke is installed, that it knows every resource
// type c names, and that c makes a valid run configuration (with
// placeholder accounts). Errors are *ovm.FieldError naming the key relative
// to the pool ("nuke.binary").
func (c Config) Validate(region, endpoint string) error {
	bin := c.Binary
	if bin == "" {
		bin = "aws-nuke"
	}
	if _, err := exec.LookPath(bin); err != nil {
		return &ovm.FieldError{Field: "nuke.binary", Message: fmt.Sprintf("%q is not installed (apt-get install -y aws-nuke): recycling needs it", bin)}
	}
	known, err := resourceTypes(bin)
	if err != nil {
		return &ovm.FieldError{Field: "nuke.binary", Message: fmt.Sprintf("%q does not list its resource types: %v", bin, err)}
	}
	// aws-nuke skips a name it does not know without a word: an include
	// list of typos scans nothing, and the pass would look clean.
	for _, k := range []struct {
		field string
		types []string
	}{{"nuke.include", c.Include}, {"nuke.exclude", c.Exclude}} {
		for _, t := range k.types {
			if !known[t] {
				return &ovm.FieldError{Field: k.field, Message: fmt.Sprintf("%q is not an aws-nuke resource type (`%s resource-types` lists the %d it knows; names are case-sensitive)", t, bin, len(known))}
			}
		}
	}
	if _, err := Generate(c.Params("000000000001", "000000000002", region, endpoint)); err != nil {
		return &ovm.FieldError{Field: "nuke", Message: err.Error()}
	}
	return nil
}

// typesByBinary caches resourceTypes' answers by binary.
var typesByBinary sync.Map

// resourceTypes returns the resource types bin knows (`aws-nuke
// resource-types`), asked once per binary.
func resourceTypes(bin string) (map[string]bool, error) {
	if v, ok := typesByBinary.Load(bin); ok {
		return v.(map[string]bool), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "resource-types")
	cmd.Env = minimalEnv()
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, t := range strings.Fields(string(out)) {
		if typeRe.MatchString(t) {
			known[t] = true
		}
	}
	if len(known) == 0 {
		return nil, fmt.Errorf("no resource types in its answer")
	}
	typesByBinary.Store(bin, known)
	return known, nil
}
