package awsorgs

import (
	"context"
	"fmt"

	"github.com/ovmdev/ovm/federation"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/cleaner/awsnuke"
	"github.com/ovmdev/ovm/provider"
)

// Kind is the organizations provider kind for the binary's registry: a
// pool's `organizations:` block is a Config; a recycle pool's `nuke:` block
// is an awsnuke.Config.
type Kind struct{}

// NewConfig implements provider.Kind.
func (Kind) NewConfig() provider.Config { return &PoolConfig{} }

// PoolConfig is an organizations pool's configuration.
type PoolConfig struct {
	Organizations Config
	Nuke          awsnuke.Config
}

// Blocks implements provider.Config.
func (c *PoolConfig) Blocks() map[string]any {
	return map[string]any{"organizations": &c.Organizations, "nuke": &c.Nuke}
}

// Complete implements provider.Config: organizations.role_name and the
// pool's role_name name one role; the pool's creations in flight default to
// organizations.max_in_flight (5, AWS's limit) and may not exceed it; a
// recycle pool needs aws-nuke and a valid nuke block.
func (c *PoolConfig) Complete(p *provider.Pool, s provider.Settings) error {
	o := &c.Organizations
	if o.RoleName != "" && p.RoleName != ovm.DefaultRoleName && o.RoleName != p.RoleName {
		return &ovm.FieldError{Field: "organizations.role_name",
			Message: fmt.Sprintf("%q differs from the pool's role_name %q; set one of them", o.RoleName, p.RoleName)}
	}
	if o.RoleName != "" {
		p.RoleName = o.RoleName
	}
	o.Pool, o.RoleName, o.Region, o.SpendBus = p.Name, p.RoleName, s.AWSRegion, s.SpendBus
	*o = o.WithDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	if err := provider.MaxInFlight(p, o.MaxInFlight, o.MaxInFlight,
		"organizations.max_in_flight; AWS allows 5 creations in progress"); err != nil {
		return err
	}
	if p.Retire.Mode == ovm.RetireRecycle {
		if err := c.Nuke.Validate(s.AWSRegion, s.AWSEndpoint); err != nil {
			return err
		}
	}
	return nil
}

// New implements provider.Config.
func (c *PoolConfig) New(ctx context.Context, env provider.Env) (ovm.Provider, error) {
	ac, err := env.AWS(ctx)
	if err != nil {
		return nil, err
	}
	p, err := New(c.Organizations, NewClients(ac), env.Store, env.Clock, env.Log)
	if err != nil {
		return nil, err
	}
	p.SetFederation(federation.New(env.Federation, nil, env.Log))
	if env.Pool.Retire.Mode == ovm.RetireRecycle {
		p.SetNuker(&awsnuke.Runner{Binary: c.Nuke.Binary}, NukeConfig{Config: c.Nuke, Region: env.AWSRegion, Endpoint: env.AWSEndpoint})
	}
	return p, nil
}

// GuardrailRole implements provider.Guarded: the role OVM assumes in a
// member account (organizations.creation_role).
func (c *PoolConfig) GuardrailRole() string { return c.Organizations.WithDefaults().CreationRole }
