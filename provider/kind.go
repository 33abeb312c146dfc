// Package provider is the contract between the binary and each provider
// kind (sim, organizations, signup). A kind owns its configuration: the
// pool keys it reads (its blocks), their defaults and their validation; and
// it builds the pool's ovm.Provider from them. cmd/ovm keeps the file, the
// YAML decoding and the unknown-key check, and a registry of one line per
// kind.
//
// The ovm.Provider interface itself, and the optional capabilities a
// provider may have, are declared in the root package next to it.
package provider

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/vault"
)

// Kind is one provider kind, as the binary's registry knows it.
type Kind interface {
	// NewConfig returns a fresh configuration of one pool with the kind's
	// defaults, ready to decode the pool's blocks into.
	NewConfig() Config
}

// Config is one pool's configuration of a kind.
type Config interface {
	// Blocks maps each pool key this kind reads (e.g. "organizations",
	// "nuke") to the pointer that key's YAML decodes into. A pool of
	// another kind may not set these keys.
	Blocks() map[string]any
	// Complete is called once the pool's own keys are read. It fills what
	// the pool left to the kind (Pool.MaxInFlightSet, Pool.MinSpacingSet),
	// narrows the policy to what the kind allows, and checks the blocks
	// and the policy against each other. Errors are *ovm.FieldError naming
	// the key relative to the pool ("organizations.email_template",
	// "stock.max_in_flight").
	Complete(p *Pool, s Settings) error
	// New builds the pool's provider. It may make calls (it is given the
	// serve command's context), but should not wait long.
	New(ctx context.Context, env Env) (ovm.Provider, error)
}

// Pool is a pool's policy while its configuration is read.
type Pool struct {
	ovm.Pool
	// MaxInFlightSet and MinSpacingSet report whether the pool's stock
	// block sets max_in_flight and min_spacing itself; when it does not,
	// the kind chooses (Complete).
	MaxInFlightSet, MinSpacingSet bool
}

// Settings are the binary's settings a kind may read while it validates.
type Settings struct {
	// AWSRegion and AWSEndpoint are the `aws:` block (AWSEndpoint: one
	// endpoint for every service, moto in tests; "" for AWS's own).
	AWSRegion, AWSEndpoint string
	// Federation is the `access:` block: how console sign-in URLs are
	// made (defaults applied).
	Federation federation.Config
	// SpendBus is spend.event_bus_arn: the event bus of OVM's account the
	// accounts' management events are forwarded to ("" = none).
	SpendBus string
}

// Env is what a kind's constructor is given.
type Env struct {
	Settings
	// Pool is the pool's final policy.
	Pool ovm.Pool
	// DataDir is the data directory; a kind keeps its files under it,
	// named after the pool.
	DataDir string
	// AWS returns the AWS configuration of the `aws:` block (credential
	// chain, region, endpoint), loaded once on first use.
	AWS func(ctx context.Context) (aws.Config, error)
	// Store is the store (e.g. for the close ledger).
	Store ovm.Store
	// Vault returns the secrets vault of the `secrets:` block, opened on
	// first use.
	Vault func(ctx context.Context) (vault.Vault, error)
	Clock ovm.Clock
	// Log carries the pool's name.
	Log *slog.Logger
	// OnShutdown registers fn to run when the server stops, after the
	// engine has stopped.
	OnShutdown func(fn func())
}

// MaxInFlight completes p's creations-in-flight bound against a kind's cap
// (0 = none) and default: a pool that sets stock.max_in_flight above the
// cap is an error naming capKey; one that does not set it gets def, within
// the cap.
func MaxInFlight(p *Pool, limit, def int, capKey string) error {
	if !p.MaxInFlightSet {
		p.Stock.MaxInFlight = def
		if limit > 0 && def > limit {
			p.Stock.MaxInFlight = limit
		}
		return nil
	}
	if limit > 0 && p.Stock.MaxInFlight > limit {
		return &ovm.FieldError{Field: "stock.max_in_flight",
			Message: fmt.Sprintf("%d is above the provider's cap of %d (%s)", p.Stock.MaxInFlight, limit, capKey)}
	}
	return nil
}

// Guarded is a Config whose pools' templates may carry guardrails: it
// names the role OVM itself uses in the pool's accounts, which every
// guardrail spares (package guardrail). A kind without it refuses
// templates with guardrails at start.
type Guarded interface {
	GuardrailRole() string
}

// RoleGuarded is a Config whose pools' accounts are management accounts,
// outside OVM's organization (no SCP binds them): a template's guardrails
// bind the pool's vended role itself (package guardrail, Options.OnRole),
// and its provider implements ovm.Guardrailer on that role.
type RoleGuarded interface {
	GuardsTheVendedRole()
}
