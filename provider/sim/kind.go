package sim

import (
	"context"
	"path/filepath"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider"
)

// Kind is the sim provider kind for the binary's registry: a pool's `sim:`
// block is a Config, with DefaultConfig's values where the block is silent.
type Kind struct{}

// NewConfig implements provider.Kind.
func (Kind) NewConfig() provider.Config { return &PoolConfig{Sim: DefaultConfig()} }

// PoolConfig is a sim pool's configuration.
type PoolConfig struct {
	Sim Config
}

// Blocks implements provider.Config.
func (c *PoolConfig) Blocks() map[string]any { return map[string]any{"sim": &c.Sim} }

// Complete implements provider.Config: the pool's creations in flight
// default to 5 and may not exceed sim.max_in_flight, the simulated AWS's own
// limit.
func (c *PoolConfig) Complete(p *provider.Pool, _ provider.Settings) error {
	bad := func(field, msg string) error { return &ovm.FieldError{Field: "sim." + field, Message: msg} }
	switch {
	case c.Sim.FailureRate < 0 || c.Sim.FailureRate > 1:
		return bad("failure_rate", "must be between 0 and 1")
	case c.Sim.MaxInFlight < 0:
		return bad("max_in_flight", "must not be negative (0 = no cap)")
	case c.Sim.BootstrapFailures < 0:
		return bad("bootstrap_failures", "must not be negative")
	case c.Sim.CloseQuota < 0:
		return bad("close_quota", "must not be negative (0 = no quota)")
	case c.Sim.SpendPerHour < 0 || c.Sim.SpendPerHour > 10000:
		return bad("spend_per_hour", "must be between 0 and 10000")
	}
	return provider.MaxInFlight(p, c.Sim.MaxInFlight, 5, "sim.max_in_flight")
}

// New implements provider.Config. The simulated AWS keeps its state in
// sim-<pool>.json in the data directory, so it outlives an OVM crash.
func (c *PoolConfig) New(_ context.Context, env provider.Env) (ovm.Provider, error) {
	cfg := c.Sim
	cfg.StatePath = filepath.Join(env.DataDir, "sim-"+env.Pool.Name+".json")
	cfg.RoleName = env.Pool.RoleName
	cfg.EvidenceDir = filepath.Join(env.DataDir, "evidence", env.Pool.Name)
	return New(cfg, env.Clock)
}

// GuardrailRole implements provider.Guarded: the simulated account's role
// for OVM, as an organizations pool's default.
func (c *PoolConfig) GuardrailRole() string { return "OrganizationAccountAccessRole" }

// SpendPerHour is what the pool's leased accounts spend an hour in the
// simulation (sim.spend_per_hour).
func (c *PoolConfig) SpendPerHour() float64 { return c.Sim.SpendPerHour }
