package awsnuke

import (
	"fmt"
	"os/exec"

	"github.com/ovmdev/ovm"
)

// Config is a recycle pool's `nuke:` block: which aws-nuke runs, and what
// its wipes may touch.
type Config struct {
	// Binary is the aws-nuke executable (default "aws-nuke" on PATH).
	Binary string `yaml:"binary"`
	// Regions to wipe (default: global and the `aws:` block's region).
	Regions []string `yaml:"regions"`
	// Include limits the wipe to these resource types (empty: all);
	// Exclude leaves these out.
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
	return Params{Target: target, Management: management, Protected: c.ProtectedAccounts, Regions: regions,
		Include: c.Include, Exclude: c.Exclude, Endpoint: endpoint, EndpointRegion: region}
}

// Validate checks that aws-nuke is installed and that c makes a valid run
// configuration (with placeholder accounts). Errors are *ovm.FieldError
// naming the key relative to the pool ("nuke.binary").
func (c Config) Validate(region, endpoint string) error {
	bin := c.Binary
	if bin == "" {
		bin = "aws-nuke"
	}
	if _, err := exec.LookPath(bin); err != nil {
		return &ovm.FieldError{Field: "nuke.binary", Message: fmt.Sprintf("%q is not installed (apt-get install -y aws-nuke): recycling needs it", bin)}
	}
	if _, err := Generate(c.Params("000000000001", "000000000002", region, endpoint)); err != nil {
		return &ovm.FieldError{Field: "nuke", Message: err.Error()}
	}
	return nil
}
