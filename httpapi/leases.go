package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/engine"
)

// vend is the seed's API: a lease from the default pool with the default
// TTL, answered exactly as the original did.
func (s *Server) vend(w http.ResponseWriter, r *http.Request, p *principal) error {
	l, err := s.lease(w, r, p, &client.LeaseRequest{})
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

func (s *Server) leaseCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.LeaseRequest
	if err := decode(r, &req, true); err != nil {
		return err
	}
	if req.TTL != nil && *req.TTL <= 0 {
		return ovm.Errorf(ovm.EInvalid, "ttl must be positive; leave it out for the pool's default")
	}
	if err := checkLabels(req.Labels); err != nil {
		return err
	}
	l, err := s.lease(w, r, p, &req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/leases/"+l.ID)
	return writeJSON(w, http.StatusCreated, leaseDTO(l))
}

// lease vends under req's template (or its pool's own, or the default
// template: the engine's, else the default pool's) through the engine,
// with the request's Idempotency-Key, and reports the vend to the
// observer.
func (s *Server) lease(w http.ResponseWriter, r *http.Request, p *principal, req *client.LeaseRequest) (_ *ovm.Lease, err error) {
	if req.Template == "" && req.Pool == "" {
		if req.Template = s.engine.DefaultTemplate(); req.Template == "" {
			req.Pool = s.cfg.DefaultPool
		}
	}
	pool := req.Pool // the metric's label: a pool that exists, or none
	if t := s.engine.Template(req.Template); t != nil {
		pool = t.Pool
	}
	keys := r.Header.Values(client.IdempotencyKeyHeader)
	if len(keys) > 1 {
		return nil, ovm.Errorf(ovm.EInvalid, "the %s header is given %d times; give it once", client.IdempotencyKeyHeader, len(keys))
	}
	key := ""
	if len(keys) == 1 {
		if key = keys[0]; ovm.CheckIdempotencyKey(key) != nil {
			return nil, ovm.CheckIdempotencyKey(key)
		}
	}
	start := s.clock.Now()
	replayed := false
	defer func() {
		if s.engine.Pool(pool) != nil { // no label for a pool that does not exist
			result := vendResult(err)
			if replayed {
				result = "replayed" // a retry answered with its first lease: no vend
			}
			s.cfg.Observer.Vend(pool, result, s.clock.Now().Sub(start))
		}
	}()
	var l *ovm.Lease
	l, replayed, err = s.engine.Vend(r.Context(), &engine.VendRequest{Template: req.Template, Pool: req.Pool, Requester: p.requester(),
		Owner: p.Name, TTL: time.Duration(deref(req.TTL)),
		Labels: req.Labels, Principal: req.Principal, Wait: time.Duration(req.Wait), IdempotencyKey: key, BudgetUSD: req.BudgetUSD,
		StillValid: func(ctx context.Context) error { return s.stillValid(ctx, p) }})
	if replayed {
		w.Header().Set(client.ReplayedHeader, "true")
	}
	return l, err
}

// vendResult names a vend's outcome for metrics: ok, empty, limit,
// invalid (the request's fault: a TTL out of range, a malformed key),
// conflict (an Idempotency-Key reused for another request) or error (an
// internal error, or AWS refusing the lease's principal: what the
// OVMVendErrors alert counts); replayed is set by lease. Nothing a caller
// sends alone makes an error.
func vendResult(err error) string {
	if engine.AWSRefused(err) {
		return "error"
	}
	switch ovm.ErrorCodeOf(err) {
	case "":
		return "ok"
	case ovm.EUnavailable:
		return "empty"
	case ovm.ELimitExceeded:
		return "limit"
	case ovm.EInvalid, ovm.ENotFound:
		return "invalid"
	case ovm.EConflict:
		return "conflict"
	}
	return "error"
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
	d, err := s.leaseWithSpend(r.Context(), l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) leaseList(w http.ResponseWriter, r *http.Request, p *principal) error {
	pp, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	params := &ovm.LeaseListParams{PageParams: pp, Pool: q.Get("pool"), State: ovm.LeaseState(q.Get("state")), Owner: q.Get("owner"),
		Team: q.Get("team"), Template: q.Get("template")}
	// active: the held leases, frozen ones among them (their state says
	// frozen); frozen: those only, from a page of active ones (ADR 0010).
	frozenOnly := params.State == ovm.LeaseFrozen
	switch params.State {
	case "", ovm.LeaseActive, ovm.LeaseEnded:
	case ovm.LeaseFrozen:
		params.State = ovm.LeaseActive
	default:
		return ovm.Errorf(ovm.EInvalid, "state must be active (frozen ones included), frozen or ended")
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
	out := client.Page[client.Lease]{Items: []client.Lease{}, NextCursor: next}
	for _, l := range leases {
		if frozenOnly && l.Frozen == nil {
			continue
		}
		d, err := s.leaseWithSpend(r.Context(), l)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, d)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) leaseExtend(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.ExtendRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if req.BudgetUSD != nil {
		if req.ExpiresAt != nil || req.ExtendBy != nil {
			return ovm.Errorf(ovm.EInvalid, "give budget_usd alone: a budget and an extension are separate changes")
		}
		return s.leaseSetBudget(w, r, p, *req.BudgetUSD)
	}
	if (req.ExpiresAt == nil) == (req.ExtendBy == nil) {
		return ovm.Errorf(ovm.EInvalid, "give exactly one of expires_at (RFC 3339), extend_by (duration) or budget_usd (an admin)")
	}
	if req.ExtendBy != nil && *req.ExtendBy <= 0 {
		return ovm.Errorf(ovm.EInvalid, "extend_by must be positive")
	}
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	expires := l.ExpiresAt.Add(time.Duration(deref(req.ExtendBy)))
	if req.ExpiresAt != nil {
		expires = req.ExpiresAt.UTC()
	}
	l, err = s.engine.ExtendLease(r.Context(), l, expires, p.actor())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, leaseDTO(l))
}

// leaseSetBudget changes a lease's budget limit: an admin's change (a
// lessee lowers its budget at the vend only).
func (s *Server) leaseSetBudget(w http.ResponseWriter, r *http.Request, p *principal, usd float64) error {
	if !p.admin() {
		return ovm.Errorf(ovm.EForbidden, "only an admin changes a lease's budget")
	}
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	if l, err = s.engine.SetLeaseBudget(r.Context(), l, usd, p.actor()); err != nil {
		return err
	}
	d, err := s.leaseWithSpend(r.Context(), l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// leaseFreeze freezes a lease (an admin): it stays held, and gives no
// access until it is unfrozen.
func (s *Server) leaseFreeze(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.FreezeRequest
	if err := decode(r, &req, true); err != nil {
		return err
	}
	if utf8.RuneCountInString(req.Reason) > 512 || !utf8.ValidString(req.Reason) {
		return ovm.Errorf(ovm.EInvalid, "reason must be valid UTF-8 of at most 512 characters")
	}
	if strings.IndexFunc(req.Reason, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }) >= 0 {
		return ovm.Errorf(ovm.EInvalid, "reason must be one line of printable text (no control or format characters)")
	}
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	if l, err = s.engine.FreezeLease(r.Context(), l, req.Stop, req.Reason, p.actor()); err != nil {
		return err
	}
	d, err := s.leaseWithSpend(r.Context(), l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// leaseUnfreeze gives a frozen lease its access back (an admin).
func (s *Server) leaseUnfreeze(w http.ResponseWriter, r *http.Request, p *principal) error {
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	if l, err = s.engine.UnfreezeLease(r.Context(), l, p.actor()); err != nil {
		return err
	}
	d, err := s.leaseWithSpend(r.Context(), l)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
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
	l, err = s.engine.EndLease(r.Context(), l, reason, p.actor())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, leaseDTO(l))
}
