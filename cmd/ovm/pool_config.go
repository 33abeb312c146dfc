package main

import (
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider"
)

// complete lets the pool's provider kind complete its policy, then checks
// it: errors are *ovm.FieldError relative to the pool.
func (p *PoolConfig) complete(s provider.Settings) error {
	pp := provider.Pool{Pool: ovm.Pool{Name: p.Name, Provider: p.Provider, RoleName: p.RoleName,
		Stock: ovm.StockPolicy{Target: p.Stock.Target.N, Ceiling: p.Stock.Ceiling},
		Lease: ovm.LeasePolicy{DefaultTTL: p.Lease.DefaultTTL, MaxTTL: p.Lease.MaxTTL, MinTTL: p.Lease.MinTTL,
			MaxPerOwner: p.Lease.MaxPerOwner, Allowed: p.Lease.Allowed},
		Retire: ovm.RetirePolicy{Mode: ovm.RetireMode(p.Retire.Mode), MaxGenerations: p.Retire.MaxGenerations,
			CleanTimeout: p.Retire.CleanTimeout, CleanPasses: p.Retire.CleanPasses, ClockMargin: p.Retire.ClockMargin},
		Retry: ovm.RetryPolicy{MaxAttempts: p.Retry.MaxAttempts, BaseDelay: p.Retry.BaseDelay, MaxDelay: p.Retry.MaxDelay},
	}}
	if err := p.Stock.auto(&pp.Stock); err != nil {
		return err
	}
	b, err := p.Budget.budget()
	if err != nil {
		return err
	}
	pp.Budget = b
	if v := p.Stock.MaxInFlight; v != nil {
		pp.Stock.MaxInFlight, pp.MaxInFlightSet = *v, true
		if *v < 1 {
			return &ovm.FieldError{Field: "stock.max_in_flight", Message: "must be at least 1"}
		}
	}
	if v := p.Stock.MinSpacing; v != nil {
		pp.Stock.MinSpacing, pp.MinSpacingSet = *v, true
	}
	// The pool's defaults (ovm.Pool.WithDefaults: one bound set, the
	// others follow it), then its own keys: a bad name or mode is reported
	// as such.
	pp.Pool = pp.Pool.WithDefaults()
	if err := pp.Pool.Validate(); err != nil {
		return err
	}
	if err := p.Kind.Complete(&pp, s); err != nil {
		return err
	}
	p.policy = pp.Pool.WithDefaults()
	return p.policy.Validate()
}

// Policy is the pool's final policy (after validate).
func (p *PoolConfig) Policy() ovm.Pool { return p.policy }

// providerSettings are the settings a provider kind may read.
func (c *Config) providerSettings() provider.Settings {
	return provider.Settings{AWSRegion: c.AWS.Region, AWSEndpoint: c.AWS.Endpoint, Federation: c.Access.WithDefaults(),
		SpendBus: c.Spend.EventBusARN}
}

// auto sets the policy of a target that follows demand; min, max and
// hit_ratio belong to it alone.
func (c StockConfig) auto(sp *ovm.StockPolicy) error {
	if !c.Target.Auto {
		for _, k := range []struct {
			key string
			set bool
		}{{"stock.min", c.Min != nil}, {"stock.max", c.Max != nil}, {"stock.hit_ratio", c.HitRatio != 0}} {
			if k.set {
				return &ovm.FieldError{Field: k.key, Message: "applies only to stock.target: auto"}
			}
		}
		return nil
	}
	a := &ovm.AutoTarget{HitRatio: c.HitRatio}
	if c.Min != nil {
		a.Min = *c.Min
	}
	if c.Max != nil {
		if a.Max = *c.Max; a.Max < 1 {
			return &ovm.FieldError{Field: "stock.max", Message: "must be at least 1"}
		}
	}
	if c.HitRatio < 0 || c.HitRatio > 1 {
		return &ovm.FieldError{Field: "stock.hit_ratio", Message: "must be above 0 and at most 1 (0.99: 99 % of vends served from stock)"}
	}
	sp.Target, sp.Auto = a.Min, a
	return nil
}
