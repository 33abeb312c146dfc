package main

import (
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/webui"
)

// resolved is c (validated) as OVM runs it: every key the file left out
// holds the default of the package that owns it (the engine, the API, the
// console, the pool's policy, the access block). The configuration layer
// sets none of those defaults itself; this reads them back, so that
// docs/config.md can be checked against the code
// (TestEveryDocumentedDefaultIsTheCodes).
func (c Config) resolved() Config {
	e := c.engineConfig().WithDefaults()
	c.Engine.Tick, c.Engine.BatchSize, c.Engine.Parallelism = e.Tick, e.BatchSize, e.Parallelism
	c.Engine.ClaimTTL, c.Engine.StepTimeout, c.Engine.DriftInterval, c.Engine.LeaderTTL = e.ClaimTTL, e.StepTimeout, e.DriftInterval, e.LeaderTTL
	owners := max(e.Vend.LeasesPerOwner, 0) // negative: no limit, written 0
	c.API.LeasesPerOwner, c.API.MaxWait = &owners, e.Vend.MaxWait
	c.API.AccessIssues, c.API.AccessWindow = e.Access.Issues, e.Access.Window
	c.API.MaxBodyBytes = httpapi.Config{MaxBodyBytes: c.API.MaxBodyBytes}.WithDefaults().MaxBodyBytes
	c.Retention = RetentionConfig{Events: e.Retention.Events, Leases: e.Retention.Leases, Accounts: e.Retention.Accounts}
	n := e.Notify
	c.Notifications.Retry = RetryConfig{MaxAttempts: n.Retry.MaxAttempts, BaseDelay: n.Retry.BaseDelay, MaxDelay: n.Retry.MaxDelay}
	if c.Notifications.ExpiringLead == nil {
		lead := n.ExpiringLead
		c.Notifications.ExpiringLead = &lead
	}
	c.UI.SessionTTL = webui.Config{SessionTTL: c.UI.SessionTTL}.WithDefaults().SessionTTL
	c.Access = c.Access.WithDefaults()
	pools := make([]PoolConfig, len(c.Pools))
	for i, p := range c.Pools {
		pol := p.policy
		p.RoleName = pol.RoleName
		p.Stock.Ceiling, p.Stock.MaxInFlight, p.Stock.MinSpacing = pol.Stock.Ceiling, &pol.Stock.MaxInFlight, &pol.Stock.MinSpacing
		p.Lease = LeaseConfig{DefaultTTL: pol.Lease.DefaultTTL, MaxTTL: pol.Lease.MaxTTL, MinTTL: pol.Lease.MinTTL, MaxPerOwner: pol.Lease.MaxPerOwner,
			Allowed: pol.Lease.Allowed}
		p.Retire = RetireConfig{Mode: string(pol.Retire.Mode), MaxGenerations: pol.Retire.MaxGenerations, CleanTimeout: pol.Retire.CleanTimeout,
			CleanPasses: pol.Retire.CleanPasses, ClockMargin: pol.Retire.ClockMargin}
		p.Retry = RetryConfig{MaxAttempts: pol.Retry.MaxAttempts, BaseDelay: pol.Retry.BaseDelay, MaxDelay: pol.Retry.MaxDelay}
		pools[i] = p
	}
	c.Pools = pools
	return c
}
