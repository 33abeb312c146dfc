package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
)

// vend is the seed's API: a lease from the default pool with the default
// TTL, answered exactly as the original did.
func (s *Server) vend(w http.ResponseWriter, r *http.Request, p *principal) error {
	l, err := s.lease(r.Context(), p, &LeaseRequest{Pool: s.cfg.DefaultPool})
	if err != nil {
		return err
	}
	id, _ := json.Marshal(l.AWSAccountID)
	role, _ := json.Marshal(l.RoleARN)
	// The body stays the seed's; the lease is named in Location so the
	// caller can extend or release it.
	w.Header().Set("Location", "/v1/leases/"+l.ID)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err = fmt.Fprintf(w, "{\"account_id\": %s, \"cross_account_role\": %s}\n", id, role)
	return err
}

// LeaseRequest is the body of POST /v1/leases.
type LeaseRequest struct {
	Pool string `json:"pool"`
	// TTL is the lease's duration (nil: the pool's default; it must be
	// positive when given).
	TTL    *Duration         `json:"ttl,omitempty"`
	Labels map[string]string `json:"labels"`
	// Wait long-polls up to this long for an account when the stock is empty.
	Wait Duration `json:"wait"`
	// Principal, an IAM role or user ARN, is trusted by the account's
	// vended role for the lease's life only.
	Principal string `json:"principal,omitempty"`
}

func (s *Server) leaseCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req LeaseRequest
	if err := decode(r, &req, true); err != nil {
		return err
	}
	if req.Pool == "" {
		req.Pool = s.cfg.DefaultPool
	}
	if req.TTL != nil && *req.TTL <= 0 {
		return ovm.Errorf(ovm.EInvalid, "ttl must be positive; leave it out for the pool's default")
	}
	if time.Duration(req.Wait) > s.cfg.MaxWait {
		return ovm.Errorf(ovm.EInvalid, "wait %s is longer than the maximum %s", time.Duration(req.Wait), s.cfg.MaxWait)
	}
	if err := checkLabels(req.Labels); err != nil {
		return err
	}
	if req.Principal != "" {
		if err := s.engine.CheckPrincipal(r.Context(), req.Pool, req.Principal); err != nil {
			return err
		}
		if s.engine.Pool(req.Pool) != nil && !s.engine.GivesAccess(req.Pool) {
			return ovm.Errorf(ovm.EInvalid, "pool %q's provider gives no access per lease: it cannot trust a principal", req.Pool)
		}
	}
	l, err := s.lease(r.Context(), p, &req)
	if err != nil {
		return err
	}
	if err := s.engine.Grant(r.Context(), l); err != nil {
		// The lease is of no use without its principal: end it (its
		// revocation takes the principal away if it was added after all).
		s.log.Warn("cannot trust the lease's principal; ending the lease", ovm.LogLeaseID, l.ID, ovm.LogError, err)
		if _, endErr := s.store.LeaseEnd(context.WithoutCancel(r.Context()), &ovm.LeaseEndParams{ID: l.ID, Reason: ovm.LeaseAccountFailed,
			Actor: ovm.ActorEngine, Now: s.clock.Now(), Retire: s.engine.Pool(l.Pool).Policy.Retire}); endErr != nil {
			s.log.Error("cannot end the lease whose principal failed; it expires as usual", ovm.LogLeaseID, l.ID, ovm.LogError, endErr)
		}
		return fmt.Errorf("the lease could not be made: %w", err)
	}
	w.Header().Set("Location", "/v1/leases/"+l.ID)
	return writeJSON(w, http.StatusCreated, leaseDTO(l))
}

// lease vends from req's pool (set), waiting up to req.Wait for stock.
func (s *Server) lease(ctx context.Context, p *principal, req *LeaseRequest) (_ *ovm.Lease, err error) {
	pool, labels, wait := req.Pool, req.Labels, time.Duration(req.Wait)
	ep := s.engine.Pool(pool)
	if ep == nil {
		return nil, ovm.Errorf(ovm.ENotFound, "pool %q: %w", pool, ovm.ErrNotFound)
	}
	start := s.clock.Now()
	defer func() { s.cfg.Observer.Vend(pool, vendResult(err), s.clock.Now().Sub(start)) }()
	ttl, err := ep.Policy.Lease.LeaseTTL(time.Duration(deref(req.TTL)))
	if err != nil {
		return nil, err
	}
	deadline := s.clock.Now().Add(wait)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := s.stillValid(ctx, p); err != nil {
				return nil, err
			}
		}
		ready := s.engine.ReadySignal(pool) // before the attempt: no wake-up is missed
		now := s.clock.Now()
		l, err := s.store.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: pool,
			Owner: p.Name, Labels: labels, Principal: req.Principal, Now: now, ExpiresAt: now.Add(ttl), OwnerLimit: s.cfg.LeasesPerOwner,
			PoolOwnerLimit: ep.Policy.Lease.MaxPerOwner})
		switch { // the pool's limit first: ErrPoolLeaseLimit is an ErrLeaseLimit too
		case errors.Is(err, ovm.ErrPoolLeaseLimit):
			return nil, ovm.Errorf(ovm.ELimitExceeded, "%s already holds %d active leases in pool %q, its lease.max_per_owner: release one first",
				p.Name, ep.Policy.Lease.MaxPerOwner, pool)
		case errors.Is(err, ovm.ErrLeaseLimit):
			return nil, ovm.Errorf(ovm.ELimitExceeded, "%s already holds %d active leases over all pools, the api.leases_per_owner limit: release one first",
				p.Name, s.cfg.LeasesPerOwner)
		}
		if !errors.Is(err, ovm.ErrEmpty) {
			if err == nil {
				s.engine.Planner.Kick()  // the stock went down: order at once
				s.engine.Notifier.Kick() // lease.created goes out now
				s.log.Info("account vended", ovm.LogLeaseID, l.ID, ovm.LogAccountID, l.AccountID, ovm.LogPool, pool, ovm.LogKeyName, p.Name)
			}
			return l, err
		}
		left := deadline.Sub(s.clock.Now())
		if left <= 0 {
			if wait > 0 { // a credential that lapsed during the wait gets 401, not a miss in its name
				if err := s.stillValid(ctx, p); err != nil {
					return nil, err
				}
			}
			if err := s.engine.RecordMiss(context.WithoutCancel(ctx), pool, p.actor()); err != nil {
				s.log.Warn("cannot record a vend the stock missed", ovm.LogPool, pool, ovm.LogError, err)
			}
			o := s.outlook(ctx, pool)
			waited := ""
			if wait > 0 {
				waited = " after waiting " + wait.String()
			}
			return nil, &ovm.Error{Code: ovm.EUnavailable, RetryAfter: o.RetryAfter,
				Message: fmt.Sprintf("pool %q has no account in stock%s: %s; expect one in about %s (Retry-After)",
					pool, waited, o.Reason, o.RetryAfter.Round(time.Second))}
		}
		timer := time.NewTimer(min(left, s.cfg.PollInterval))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ovm.Errorf(ovm.EUnavailable, "request cancelled while waiting for stock")
		case <-s.draining:
			timer.Stop()
			return nil, &ovm.Error{Code: ovm.EUnavailable, RetryAfter: time.Second,
				Message: "the server is shutting down; retry (another replica, or this one once it is back)"}
		case <-ready:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// vendResult names a vend's outcome for metrics: ok, empty, limit,
// invalid (a TTL out of range) or error.
func vendResult(err error) string {
	switch ovm.ErrorCodeOf(err) {
	case "":
		return "ok"
	case ovm.EUnavailable:
		return "empty"
	case ovm.ELimitExceeded:
		return "limit"
	case ovm.EInvalid:
		return "invalid"
	}
	return "error"
}

// outlook is the engine's outlook of an empty pool. It is kept for a
// second: a storm of empty answers must not become a storm of status reads.
// One request per pool computes it at a time; the others wait for its
// answer (a burst of empty answers reads the store once).
func (s *Server) outlook(ctx context.Context, pool string) engine.Outlook {
	s.raMu.Lock()
	c := s.raCache[pool]
	if c == nil {
		c = &outlookEntry{}
		s.raCache[pool] = c
	}
	s.raMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.clock.Now()
	if !c.at.IsZero() && now.Sub(c.at) < time.Second {
		return c.o
	}
	o, err := s.engine.Outlook(ctx, pool)
	if err != nil {
		s.log.Warn("cannot tell why the pool is empty", ovm.LogPool, pool, ovm.LogError, err)
		o = engine.Outlook{Reason: "the pool's status cannot be read right now", RetryAfter: 10 * time.Second}
	}
	c.at, c.o = s.clock.Now(), o
	return o
}

// outlookEntry is one pool's last outlook, and the lock of its computation.
type outlookEntry struct {
	mu sync.Mutex
	at time.Time
	o  engine.Outlook
}

// ownLease loads a lease the caller may see: its own, or any for admins.
// Another owner's lease is reported as not found.
func (s *Server) ownLease(r *http.Request, p *principal) (*ovm.Lease, error) {
	id := r.PathValue("id")
	l, err := s.store.LeaseGet(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !p.admin() && l.Owner != p.Name {
		return nil, ovm.Errorf(ovm.ENotFound, "lease %s: %w", id, ovm.ErrNotFound)
	}
	return l, nil
}

func (s *Server) leaseGet(w http.ResponseWriter, r *http.Request, p *principal) error {
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, leaseDTO(l))
}

func (s *Server) leaseList(w http.ResponseWriter, r *http.Request, p *principal) error {
	pp, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	params := &ovm.LeaseListParams{PageParams: pp, Pool: q.Get("pool"), State: ovm.LeaseState(q.Get("state")), Owner: q.Get("owner")}
	if params.State != "" && params.State != ovm.LeaseActive && params.State != ovm.LeaseEnded {
		return ovm.Errorf(ovm.EInvalid, "state must be active or ended")
	}
	if !p.admin() {
		if params.Owner != "" && params.Owner != p.Name {
			return ovm.Errorf(ovm.EForbidden, "only admins list other owners' leases")
		}
		params.Owner = p.Name
	}
	leases, next, err := s.store.LeaseList(r.Context(), params)
	if err != nil {
		return err
	}
	out := Page[Lease]{Items: []Lease{}, NextCursor: next}
	for _, l := range leases {
		out.Items = append(out.Items, leaseDTO(l))
	}
	return writeJSON(w, http.StatusOK, out)
}

// ExtendRequest is the body of PATCH /v1/leases/{id}: exactly one field.
type ExtendRequest struct {
	ExpiresAt *time.Time `json:"expires_at"`
	ExtendBy  *Duration  `json:"extend_by"`
}

func (s *Server) leaseExtend(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req ExtendRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if (req.ExpiresAt == nil) == (req.ExtendBy == nil) {
		return ovm.Errorf(ovm.EInvalid, "give exactly one of expires_at (RFC 3339) or extend_by (duration)")
	}
	if req.ExtendBy != nil && *req.ExtendBy <= 0 {
		return ovm.Errorf(ovm.EInvalid, "extend_by must be positive")
	}
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	pool := s.engine.Pool(l.Pool)
	if pool == nil {
		return ovm.Errorf(ovm.EConflict, "lease %s belongs to pool %q, which is no longer configured", l.ID, l.Pool)
	}
	expires := l.ExpiresAt.Add(time.Duration(deref(req.ExtendBy)))
	if req.ExpiresAt != nil {
		expires = req.ExpiresAt.UTC()
	}
	now := s.clock.Now()
	if err := pool.Policy.Lease.CheckExtend(l, expires, now); err != nil {
		return err
	}
	// A compare-and-set on the lease as read above: an extension or end
	// that won a race since is answered 409 conflict.
	l, err = s.store.LeaseExtend(r.Context(), &ovm.LeaseExtendParams{ID: l.ID, Version: l.Version, ExpiresAt: expires,
		Actor: p.actor(), Now: now})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, leaseDTO(l))
}

func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}

func (s *Server) leaseEnd(w http.ResponseWriter, r *http.Request, p *principal) error {
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	reason := ovm.LeaseReleased
	if l.Owner != p.Name {
		reason = ovm.LeaseRevoked
	}
	retire := ovm.RetirePolicy{Mode: ovm.RetireClose}
	if pool := s.engine.Pool(l.Pool); pool != nil {
		retire = pool.Policy.Retire
	}
	l, err = s.store.LeaseEnd(r.Context(), &ovm.LeaseEndParams{ID: l.ID, Reason: reason, Actor: p.actor(),
		Now: s.clock.Now(), Retire: retire})
	if err != nil {
		return err
	}
	s.engine.Runner.Kick()
	s.engine.Notifier.Kick() // lease.ended goes out now
	return writeJSON(w, http.StatusOK, leaseDTO(l))
}
