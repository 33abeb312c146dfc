// Package sim is a simulated AWS: an ovm.Provider that creates, bootstraps,
// cleans and closes pretend accounts in process, with the behaviours OVM has
// to survive in the real one: latency, a limit on creations in flight, a close
// quota per rolling window, transient failures (before the effect, or after
// it as a lost response), and hooks to inject any failure.
//
// It is the embedded default (`ovm serve` with no configuration) and the
// reference implementation of the provider conformance suite. Its zero value
// works (instant, unlimited, no failures, wall clock); Config sets the knobs.
// With Config.StatePath the simulated AWS is kept in a JSON file, so it
// outlives an OVM crash the way AWS would.
package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/atomicfile"
)

// Config holds the simulation's knobs; it is also a pool's `sim:` block
// (RoleName, EmailDomain and StatePath are set by the binary, not the file). Zero values mean instant, unlimited
// and failure-free; DefaultConfig returns what `ovm serve` uses.
type Config struct {
	// CreateLatency is how long a creation stays in progress.
	CreateLatency time.Duration `yaml:"create_latency"`
	// BootstrapLatency is how long bootstrapping takes.
	BootstrapLatency time.Duration `yaml:"bootstrap_latency"`
	// CleanLatency is how long a recycle wipe takes.
	CleanLatency time.Duration `yaml:"clean_latency"`
	// CloseLatency is how long PENDING_CLOSURE lasts before SUSPENDED.
	CloseLatency time.Duration `yaml:"close_latency"`
	// MaxInFlight caps creations in progress (AWS: 5); 0 means no cap.
	MaxInFlight int `yaml:"max_in_flight"`
	// CloseQuota caps closures per CloseWindow; 0 means no quota.
	CloseQuota int `yaml:"close_quota"`
	// CloseWindow is the quota's rolling window (default 30 days).
	CloseWindow time.Duration `yaml:"close_window"`
	// FailureRate is the probability (0..1) that a call fails transiently,
	// half of them after the effect took place (a lost response).
	FailureRate float64 `yaml:"failure_rate"`
	// Seed seeds the failure dice (0: random).
	Seed uint64 `yaml:"seed"`
	// RoleName is the vended role (default ovm.DefaultRoleName).
	RoleName string `yaml:"-"`
	// EmailDomain is the domain of reserved e-mails (default sim.ovm.invalid).
	EmailDomain string `yaml:"-"`
	// StatePath, when set, keeps the simulated AWS in this JSON file, which
	// several processes may share (replicas on one machine).
	StatePath string `yaml:"-"`
	// BootstrapFailures makes the first N bootstraps of the pool fail for
	// good, as a sign-up step does when AWS changes a page: the account is
	// quarantined, with simulated evidence (a screenshot, the page, the
	// step's log) when EvidenceDir is set. A retry after the Nth works.
	// The count is kept in the state file (default 0).
	BootstrapFailures int `yaml:"bootstrap_failures"`
	// EvidenceDir keeps that evidence (set by the binary: the pool's
	// evidence directory in the data directory).
	EvidenceDir string `yaml:"-"`
	// SpendPerHour makes each leased account run simulated priced
	// resources at this many USD an hour, reported as CloudTrail events
	// (docs/spend.md; default 0: none).
	SpendPerHour float64 `yaml:"spend_per_hour"`
	// GuardrailGrace is how long a guardrail policy of an older version
	// stays unused before CollectGuardrails deletes it (default 1h, as an
	// organizations pool's).
	GuardrailGrace time.Duration `yaml:"guardrail_grace"`
	// CallDelay is real time each call takes, like an AWS API round trip
	// (default 0). Unlike the latencies above it blocks the caller.
	CallDelay time.Duration `yaml:"call_delay"`
}

// DefaultConfig is the simulation `ovm serve` runs without configuration:
// a few seconds per step, so a newcomer sees the stock fill.
func DefaultConfig() Config {
	return Config{CreateLatency: 3 * time.Second, BootstrapLatency: 2 * time.Second, CleanLatency: 2 * time.Second,
		CloseLatency: 2 * time.Second, MaxInFlight: 5, CloseWindow: 30 * 24 * time.Hour}
}

// Op names a provider operation, for hooks.
type Op string

// The operations hooks see.
const (
	OpCreate    Op = "create"
	OpBootstrap Op = "bootstrap"
	OpClean     Op = "clean"
	OpClose     Op = "close"
	OpAccess    Op = "access" // credentials, console URLs, grants
	OpRevoke    Op = "revoke"
	OpGuard     Op = "guard"  // guardrails put on, checked or taken off
	OpFreeze    Op = "freeze" // a lease's freeze put in place or lifted
)

// Hook runs before each operation. A non-nil error fails the call: a
// *Definitive error as a definitive failure, any other as a transient one.
type Hook func(op Op, a *ovm.Account) error

// Definitive is a hook error that fails a step for good.
type Definitive struct {
	Reason string
	// AccountMayExist: an AWS account may exist despite the failure.
	AccountMayExist bool
}

// Error implements error.
func (d *Definitive) Error() string { return "sim: definitive failure: " + d.Reason }

// ErrInjected is the transient failure the FailureRate dice inject.
var ErrInjected = errors.New("sim: injected transient failure")

// Account states of the simulated AWS (the Organizations Account.State values).
const (
	StateCreating       = "CREATING"
	StateActive         = "ACTIVE"
	StatePendingClosure = "PENDING_CLOSURE"
	StateSuspended      = "SUSPENDED"
)

// Account is one simulated AWS account.
type Account struct {
	ID                 string    `json:"id"`
	OVMID              string    `json:"ovm_id"` // the ovm:account-id tag
	Pool               string    `json:"pool"`   // the ovm:pool tag
	Email              string    `json:"email"`
	Name               string    `json:"name"`
	Ref                string    `json:"ref"`
	State              string    `json:"state"`
	CreatedAt          time.Time `json:"created_at"`
	ActiveAt           time.Time `json:"active_at"`
	BootstrapStartedAt time.Time `json:"bootstrap_started_at"`
	RoleARN            string    `json:"role_arn,omitempty"`
	// Cleans counts finished wipes; CleanStartedAt is the running one's start.
	Cleans int `json:"cleans"`
	// Resources counts what lessees left (Litter); a wipe removes them.
	Resources        int       `json:"resources,omitempty"`
	CleanStartedAt   time.Time `json:"clean_started_at"`
	CloseRequestedAt time.Time `json:"close_requested_at"`
	// Access per lease: the principals the vended role trusts beyond the
	// pool's own, and the deny of sessions issued before DenyBefore.
	Trust       []string  `json:"trust,omitempty"`
	DenyBefore  time.Time `json:"deny_before"`
	Revocations int       `json:"revocations"`
	// Guardrails are the policies on the account, as an SCP would be:
	// OVM's document for a template's version and the organization's ids.
	Guardrails *Guardrails `json:"guardrails,omitempty"`
	// FrozenFor is the lease whose freeze is in place (as the deny-all
	// SCP would be); StoppedFor the lease whose simulated instance a
	// freeze stopped.
	FrozenFor  string `json:"frozen_for,omitempty"`
	StoppedFor string `json:"stopped_for,omitempty"`
}

// Guardrails are the simulated account's policies (ovm.Guard as put on).
type Guardrails struct {
	Template  string   `json:"template"`
	Version   string   `json:"version"`
	Document  string   `json:"document,omitempty"`
	PolicyIDs []string `json:"policy_ids,omitempty"`
}

type state struct {
	Accounts []*Account  `json:"accounts"`
	Closes   []time.Time `json:"closes"` // close ledger
	// BootstrapsFailed counts the bootstraps failed by BootstrapFailures.
	BootstrapsFailed int `json:"bootstraps_failed,omitempty"`
	// Policies are the guardrail policies Guard made, as SCPs would be.
	Policies []*Policy `json:"policies,omitempty"`
}

// Provider is the simulated provider. Use New, or the zero value.
type Provider struct {
	cfg   Config
	clock ovm.Clock

	mu     sync.Mutex
	inited bool
	rng    *mrand.Rand
	hook   Hook
	st     state
	byMail map[string]*Account
	byRef  map[string]*Account
	byID   map[string]*Account
}

var (
	_ ovm.Provider           = (*Provider)(nil)
	_ ovm.Cleaner            = (*Provider)(nil)
	_ ovm.QuotaReporter      = (*Provider)(nil)
	_ ovm.Inventory          = (*Provider)(nil)
	_ ovm.Access             = (*Provider)(nil)
	_ ovm.EvidenceKeeper     = (*Provider)(nil)
	_ ovm.GuardrailCollector = (*Provider)(nil)
)

// New returns a simulated provider with cfg on clock (nil: the system clock),
// loading the simulated AWS from cfg.StatePath when it exists.
func New(cfg Config, clock ovm.Clock) (*Provider, error) {
	p := &Provider{cfg: cfg, clock: clock}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if cfg.StatePath != "" {
		b, err := os.ReadFile(cfg.StatePath)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("sim: %w", err)
		default:
			if err := json.Unmarshal(b, &p.st); err != nil {
				return nil, fmt.Errorf("sim: %s: %w", cfg.StatePath, err)
			}
			for _, a := range p.st.Accounts {
				p.index(a)
			}
		}
	}
	return p, nil
}

func (p *Provider) init() {
	if p.inited {
		return
	}
	p.inited = true
	if p.clock == nil {
		p.clock = ovm.SystemClock()
	}
	seed := p.cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	p.rng = mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if p.cfg.CloseWindow == 0 {
		p.cfg.CloseWindow = 30 * 24 * time.Hour
	}
	if p.cfg.GuardrailGrace == 0 {
		p.cfg.GuardrailGrace = time.Hour
	}
	if p.cfg.RoleName == "" {
		p.cfg.RoleName = ovm.DefaultRoleName
	}
	if p.cfg.EmailDomain == "" {
		p.cfg.EmailDomain = "sim.ovm.invalid"
	}
	p.byMail, p.byRef, p.byID = map[string]*Account{}, map[string]*Account{}, map[string]*Account{}
}

// enter starts an operation: it takes the provider's lock and, with a
// state file, the file's lock (reloading it); the returned function
// releases both.
func (p *Provider) enter() (func(), error) {
	p.mu.Lock()
	p.init()
	unlock, err := p.shared()
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	return func() { unlock(); p.mu.Unlock() }, nil
}

// shared locks the state file against other processes and reloads what
// they wrote; the returned function unlocks. Without a StatePath it does
// nothing. Several `ovm serve` replicas on one machine share one simulated
// AWS this way. Callers hold p.mu.
func (p *Provider) shared() (func(), error) {
	if p.cfg.StatePath == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(p.cfg.StatePath), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p.cfg.StatePath+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	unlock := func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
	b, err := os.ReadFile(p.cfg.StatePath)
	if errors.Is(err, os.ErrNotExist) {
		return unlock, nil
	}
	var st state
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		unlock()
		return nil, fmt.Errorf("sim: %s: %w", p.cfg.StatePath, err)
	}
	p.st = st
	p.byMail, p.byRef, p.byID = map[string]*Account{}, map[string]*Account{}, map[string]*Account{}
	for _, a := range p.st.Accounts {
		p.index(a)
	}
	return unlock, nil
}

func (p *Provider) index(a *Account) {
	p.byMail[a.Email] = a
	p.byRef[a.Ref] = a
	p.byID[a.ID] = a
}

// SetHook installs h (nil removes it).
func (p *Provider) SetHook(h Hook) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	p.hook = h
}

// SetFailureRate changes the transient failure probability.
func (p *Provider) SetFailureRate(r float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	p.cfg.FailureRate = r
}

// Accounts returns a copy of every simulated AWS account, by creation.
func (p *Provider) Accounts() []Account {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	if unlock, err := p.shared(); err == nil {
		defer unlock()
	}
	out := make([]Account, 0, len(p.st.Accounts))
	for _, a := range p.st.Accounts {
		out = append(out, *a)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

// Reserve implements ovm.Provider.
func (p *Provider) Reserve(id string) (name, email string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.init()
	return "ovm-" + id, "ovm+" + id + "@" + p.cfg.EmailDomain
}

// begin runs the hook and the failure dice for a call before its effect.
// It returns the result to report (definitive failure) or a transient error.
func (p *Provider) begin(op Op, a *ovm.Account) (*ovm.StepResult, error) {
	if p.cfg.CallDelay > 0 {
		time.Sleep(p.cfg.CallDelay)
	}
	if p.hook != nil {
		if err := p.hook(op, a); err != nil {
			var d *Definitive
			if errors.As(err, &d) {
				r := ovm.Failed(d.Reason)
				r.AccountMayExist = d.AccountMayExist
				return &r, nil
			}
			return nil, err
		}
	}
	if p.cfg.FailureRate > 0 && p.rng.Float64() < p.cfg.FailureRate/2 {
		return nil, fmt.Errorf("%w (%s, before the call took effect)", ErrInjected, op)
	}
	return nil, nil
}

// end saves the simulated AWS and rolls the lost-response dice.
func (p *Provider) end(op Op, r ovm.StepResult) (ovm.StepResult, error) {
	if err := p.save(); err != nil {
		return ovm.StepResult{}, err
	}
	// Given no failure before the effect, this makes the total rate FailureRate.
	if r := p.cfg.FailureRate; r > 0 && p.rng.Float64() < (r/2)/(1-r/2) {
		return ovm.StepResult{}, fmt.Errorf("%w (%s, response lost after the call took effect)", ErrInjected, op)
	}
	return r, nil
}

func (p *Provider) save() error {
	if p.cfg.StatePath == "" {
		return nil
	}
	b, err := json.MarshalIndent(&p.st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(p.cfg.StatePath, b, 0o600)
}

func wait(d time.Duration) time.Duration { return max(d, 0) }
