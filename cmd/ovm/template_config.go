package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/guardrail"
	"github.com/ovmdev/ovm/provider"
)

// TemplateConfig is one entry of templates: (docs/templates.md): the terms
// of a lease of its pool.
type TemplateConfig struct {
	Name        string           `yaml:"name"`
	Description string           `yaml:"description"`
	Pool        string           `yaml:"pool"`
	Lease       LeaseConfig      `yaml:"lease"` // keys left out take the pool's
	MaxPerTeam  int              `yaml:"max_per_team"`
	Allowed     []string         `yaml:"allowed"` // default: everyone
	Guardrails  GuardrailsConfig `yaml:"guardrails"`
	Budget      *BudgetConfig    `yaml:"budget"`

	// template is the final template (set by validate).
	template ovm.Template
}

// GuardrailsConfig is a template's guardrails: block (docs/guardrails.md).
type GuardrailsConfig struct {
	Regions       []string `yaml:"regions"`
	DenyActions   []string `yaml:"deny_actions"`
	InstanceTypes []string `yaml:"instance_types"`
	// Policies are SCP ids (p-...) or JSON files, relative to the
	// configuration file.
	Policies []string `yaml:"policies"`
}

// maxPolicyFile bounds a guardrail policy file (an SCP is 5,120
// characters at most).
const maxPolicyFile = 64 << 10

// validateTemplates checks the templates: block against the pools and
// AWS's quotas, and builds each template with its guardrails' document.
func (c *Config) validateTemplates() error {
	pools := map[string]*PoolConfig{}
	for i := range c.Pools {
		pools[c.Pools[i].Name] = &c.Pools[i]
	}
	seen := map[string]bool{}
	for i := range c.Templates {
		tc := &c.Templates[i]
		key := fmt.Sprintf("templates[%d]", i)
		bad := func(field, format string, args ...any) error {
			return fmt.Errorf("%s%s: %s", key, field, fmt.Sprintf(format, args...))
		}
		p := pools[tc.Pool]
		switch {
		case tc.Pool == "":
			return bad(".pool", "is required: the pool whose accounts the template leases")
		case p == nil:
			return bad(".pool", "pool %q is not defined", tc.Pool)
		case pools[tc.Name] != nil:
			return bad(".name", "%q is pool %q's own template (every pool has one under its name); choose another name", tc.Name, tc.Name)
		case seen[tc.Name]:
			return bad(".name", "template %q is defined twice", tc.Name)
		}
		seen[tc.Name] = true
		if tc.Lease.Allowed != nil {
			return bad(".lease.allowed", "is a pool's key (who may lease under the pool's own template); a template's is templates[].allowed")
		}
		lease := p.policy.Lease
		lease.Allowed = nil
		if v := tc.Lease.DefaultTTL; v != 0 {
			lease.DefaultTTL = v
		}
		if v := tc.Lease.MaxTTL; v != 0 {
			lease.MaxTTL = v
		}
		if v := tc.Lease.MinTTL; v != 0 {
			lease.MinTTL = v
		}
		if v := tc.Lease.MaxPerOwner; v != 0 {
			lease.MaxPerOwner = v
		}
		g := tc.Guardrails
		budget, err := tc.Budget.budget()
		if err != nil {
			fe := err.(*ovm.FieldError)
			return bad("."+fe.Field, "%s", fe.Message)
		}
		t := ovm.Template{Budget: budget, Name: tc.Name, Description: tc.Description, Pool: tc.Pool, Lease: lease, MaxPerTeam: tc.MaxPerTeam,
			Allowed: tc.Allowed, Guardrails: ovm.Guardrails{Regions: g.Regions, DenyActions: g.DenyActions,
				InstanceTypes: g.InstanceTypes, Policies: g.Policies}}
		if err := t.Validate(); err != nil {
			var fe *ovm.FieldError
			if errors.As(err, &fe) {
				return bad("."+fe.Field, "%s", fe.Message)
			}
			return bad("", "%v", err)
		}
		if !t.Guardrails.Empty() {
			opts := guardrail.Options{Partition: ovm.Partition(c.AWS.Region)}
			switch k := p.Kind.(type) {
			case provider.Guarded:
				opts.ExemptRole = k.GuardrailRole()
			case provider.RoleGuarded:
				opts.ExemptRole, opts.OnRole = p.policy.RoleName, true
			default:
				return bad(".guardrails", "pool %q's provider (%s) cannot enforce guardrails: only organizations, signup and sim pools can", tc.Pool, p.Provider)
			}
			files := map[string][]byte{}
			for j, f := range t.Guardrails.PolicyFiles() {
				b, err := c.readPolicyFile(f)
				if err != nil {
					return bad(fmt.Sprintf(".guardrails.policies[%d]", j), "%v", err)
				}
				files[f] = b
			}
			d, err := guardrail.Check(t.Guardrails, opts, files)
			if err != nil {
				return bad("", "template %q: %v", t.Name, err)
			}
			if d != nil {
				t.GuardrailDocument, t.GuardrailVersion = d.JSON(), d.Hash()
			}
		}
		tc.template = t
	}
	if name := c.API.DefaultTemplate; name != "" && !seen[name] && pools[name] == nil {
		return fmt.Errorf("api.default_template: template %q (used by GET /vend) is not defined: name a template or a pool", name)
	}
	return nil
}

// readPolicyFile reads a guardrail policy file, relative to the
// configuration file's directory.
func (c *Config) readPolicyFile(name string) ([]byte, error) {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(c.dir, name)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPolicyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPolicyFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxPolicyFile)
	}
	return b, nil
}

// templates are the configured templates, built by validate.
func (c *Config) templates() []ovm.Template {
	out := make([]ovm.Template, len(c.Templates))
	for i, tc := range c.Templates {
		out[i] = tc.template
	}
	return out
}

// guardsPool reports whether OVM keeps SCPs of its own for pool's leases:
// a template of the pool has guardrails, or a budget of the pool (its own
// template's or another's) freezes (the deny-all SCP of frozen leases).
func (c *Config) guardsPool(pool string) bool {
	for _, tc := range c.Templates {
		if tc.Pool == pool && (!tc.template.Guardrails.Empty() || tc.template.Budget.Freezes()) {
			return true
		}
	}
	for _, p := range c.Pools {
		if p.Name == pool && p.policy.Budget.Freezes() {
			return true
		}
	}
	return false
}
