package main

import (
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
)

// engineConfig is the engine's configuration from the file's engine, api
// and retention keys (zero: the engine's defaults).
func (c *Config) engineConfig() engine.Config {
	caps, _ := c.spendCaps() // checked when the configuration was loaded
	return engine.Config{Tick: c.Engine.Tick, BatchSize: c.Engine.BatchSize, DriftInterval: c.Engine.DriftInterval,
		Parallelism: c.Engine.Parallelism, ClaimTTL: c.Engine.ClaimTTL, StepTimeout: c.Engine.StepTimeout,
		LeaderTTL: c.Engine.LeaderTTL, Instance: c.Engine.Instance,
		Vend:      engine.VendConfig{LeasesPerOwner: leasesPerOwner(c.API.LeasesPerOwner), MaxWait: c.API.MaxWait, Caps: caps},
		Access:    engine.AccessConfig{Issues: c.API.AccessIssues, Window: c.API.AccessWindow},
		Retention: engine.RetentionConfig{Events: c.Retention.Events, Leases: c.Retention.Leases, Accounts: c.Retention.Accounts},
		Templates: c.templates(), DefaultTemplate: c.defaultTemplate(),
		Notify: engine.NotifyConfig{Retry: ovm.RetryPolicy{MaxAttempts: c.Notifications.Retry.MaxAttempts,
			BaseDelay: c.Notifications.Retry.BaseDelay, MaxDelay: c.Notifications.Retry.MaxDelay}}}
}

// leasesPerOwner is api.leases_per_owner for the engine: unset takes the
// engine's default, 0 is no limit.
func leasesPerOwner(v *int) int {
	switch {
	case v == nil:
		return 0
	case *v == 0:
		return -1
	}
	return *v
}

// defaultTemplate is api.default_template, or api.default_pool's own.
func (c *Config) defaultTemplate() string {
	if c.API.DefaultTemplate != "" {
		return c.API.DefaultTemplate
	}
	return c.API.DefaultPool
}
