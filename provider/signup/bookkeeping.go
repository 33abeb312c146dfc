package signup

// This file is the provider's bookkeeping of its channels: how often each
// captcha solver answered and was right, the verification numbers' health
// (kept in the vault across restarts, shared by the pool's replicas), and
// the PIN a number's call must key in while a verification waits.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/vault"
)

// SolverStats counts a solver's answers and the ones the page accepted.
type SolverStats struct {
	Answers  int `json:"answers"`
	Accepted int `json:"accepted"`
	Errors   int `json:"errors"`
}

type stats struct {
	mu sync.Mutex
	m  map[string]*SolverStats
}

func (s *stats) add(name string, f func(*SolverStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*SolverStats{}
	}
	if s.m[name] == nil {
		s.m[name] = &SolverStats{}
	}
	f(s.m[name])
}

func (s *stats) snapshot() map[string]SolverStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]SolverStats{}
	for k, v := range s.m {
		out[k] = *v
	}
	return out
}

// PIN is the PIN the verification call to number must key in, while one
// waits (the contact flow reads it through GET /v1/phone/{number}/pin).
func (p *Provider) PIN(number string) (string, bool) { return p.deps.Phones.PIN(number) }

// SolverStats returns how often each captcha solver answered and was right.
func (p *Provider) SolverStats() map[string]SolverStats { return p.stats.snapshot() }

// Channels implements ovm.ChannelReporter: per-solver statistics and
// the health of every verification number.
func (p *Provider) Channels() map[string]any {
	return map[string]any{"captcha_solvers": p.stats.snapshot(), "phone_numbers": p.deps.Phones.Health()}
}

// healthKey is where the phone numbers' health is kept: the vault, which
// every replica of the pool shares (it holds no secret).
func (p *Provider) healthKey() string { return "phone-health/" + p.cfg.Pool }

// loadPhoneHealth restores the numbers' health that savePhoneHealth kept.
func (p *Provider) loadPhoneHealth(ctx context.Context) error {
	saved, err := p.deps.Vault.Get(ctx, p.healthKey())
	switch {
	case err == nil:
		return p.deps.Phones.Import([]byte(saved))
	case !errors.Is(err, vault.ErrNoSecret):
		return fmt.Errorf("signup: reading the phone numbers' health: %w", err)
	}
	return nil
}

// savePhoneHealth keeps the numbers' health in the vault: a number AWS
// blocked stays cooled down after a restart.
func (p *Provider) savePhoneHealth(ctx context.Context) {
	if err := p.deps.Vault.Put(ctx, p.healthKey(), string(p.deps.Phones.Export())); err != nil {
		p.deps.Log.Warn("could not keep the phone numbers' health", ovm.LogError, err)
	}
}

// outcome records the results of a step's captcha and phone verification.
// A step whose ctx ended (a timeout while waiting for the next page) must
// still disarm its number and keep its health, so that work runs on
// context.WithoutCancel(ctx), each call with a timeout of its own.
func (r *stepRun) outcome(ctx context.Context, ok bool) {
	if r.solver != "" {
		r.p.stats.add(r.solver, func(s *SolverStats) {
			if ok {
				s.Accepted++
			}
		})
	}
	if r.phone != "" {
		if an := r.p.deps.Answerer; an != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			if err := an.Disarm(dctx, r.phone); err != nil {
				// The next Arm rewrites the flow anyway; a stale flow
				// only answers a call nobody makes.
				r.p.deps.Log.Warn("disarming the verification number failed", ovm.LogAccountID, r.a.ID, "number", r.phone, ovm.LogError, err)
			}
			cancel()
		}
		r.p.deps.Phones.Done(r.phone, ok, r.p.deps.Clock.Now())
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		r.p.savePhoneHealth(hctx)
		cancel()
	}
}
