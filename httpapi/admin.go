package httpapi

import (
	"net/http"
	"slices"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

func (s *Server) poolList(w http.ResponseWriter, r *http.Request, p *principal) error {
	var names []string
	for _, pool := range s.engine.Pools() {
		names = append(names, pool.Policy.Name)
	}
	slices.Sort(names)
	out := client.Page[client.Pool]{Items: []client.Pool{}}
	for _, name := range names {
		dto, err := s.poolDTO(r, p, name)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, dto)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) poolGet(w http.ResponseWriter, r *http.Request, p *principal) error {
	dto, err := s.poolDTO(r, p, r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, dto)
}

// poolDTO is the pool's status as p may see it: admins see the accounts
// that wait or fail, drift, closures and channels; users counts and policy.
func (s *Server) poolDTO(r *http.Request, p *principal, name string) (client.Pool, error) {
	st, err := s.engine.PoolStatus(r.Context(), name)
	if err != nil {
		return client.Pool{}, err
	}
	pol := st.Policy
	d := client.Pool{Name: pol.Name, Provider: pol.Provider,
		Stock: client.Stock{Target: pol.Stock.Target, Ceiling: pol.Stock.Ceiling, MaxInFlight: pol.Stock.MaxInFlight, MinSpacing: pol.Stock.MinSpacing.String()},
		Lease: client.LeaseLimits{DefaultTTL: pol.Lease.DefaultTTL.String(), MaxTTL: pol.Lease.MaxTTL.String(), MinTTL: pol.Lease.MinTTL.String(),
			MaxPerOwner: pol.Lease.MaxPerOwner},
		Retire: client.Retire{Mode: pol.Retire.Mode, MaxGenerations: pol.Retire.MaxGenerations},
		Counts: map[string]int{}, Ready: st.Counts.ByState[ovm.AccountReady], InFlight: st.Counts.InFlight(), Live: st.Counts.Live(),
		HeldBack: st.Plan.Why, NextCreationAt: timePtr(st.Plan.NextAt)}
	if a := pol.Stock.Auto; a != nil {
		d.Stock.Auto, d.Stock.TargetWhy = &client.AutoStock{Min: a.Min, Max: a.Max, HitRatio: a.HitRatio}, st.TargetWhy
	}
	for state, n := range st.Counts.ByState {
		d.Counts[string(state)] = n
	}
	if q := st.Quota; q != nil && q.Limited() {
		d.CloseQuota = &client.Quota{Limit: q.Limit, Used: q.Used, Left: q.Left(), Window: q.Window.String(), NextFreeAt: timePtr(q.NextFreeAt)}
	}
	if !p.admin() {
		return d, nil
	}
	for _, a := range st.Waiting {
		d.Waiting = append(d.Waiting, accountDTO(a))
	}
	d.Drift = []client.Drift{}
	for _, f := range st.Drift {
		d.Drift = append(d.Drift, client.Drift{AWSAccountID: f.AWSAccountID, AccountID: f.AccountID, Problem: f.Problem, Since: f.Since.UTC()})
	}
	d.DriftCheckedAt = timePtr(st.DriftCheckedAt)
	d.Channels = st.Channels
	for _, c := range st.RecentCloses {
		d.RecentCloses = append(d.RecentCloses, client.CloseInfo{AccountID: c.AWSAccountID, OVMAccountID: c.AccountID, Pool: c.Pool, At: c.At.UTC()})
	}
	return d, nil
}

func (s *Server) accountList(w http.ResponseWriter, r *http.Request, p *principal) error {
	pp, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	params := &ovm.AccountListParams{PageParams: pp, Pool: q.Get("pool"), State: ovm.AccountState(q.Get("state"))}
	if params.State != "" && !params.State.Valid() {
		return ovm.Errorf(ovm.EInvalid, "unknown state %q", params.State)
	}
	accts, next, err := s.store.AccountList(r.Context(), params)
	if err != nil {
		return err
	}
	out := client.Page[client.Account]{Items: []client.Account{}, NextCursor: next}
	for _, a := range accts {
		out.Items = append(out.Items, accountDTO(a))
	}
	return writeJSON(w, http.StatusOK, out)
}

// eventsOnAccount is how many events GET /v1/accounts/{id} includes, the
// newest; GET /v1/accounts/{id}/events pages through all of them.
const eventsOnAccount = 100

func (s *Server) accountGet(w http.ResponseWriter, r *http.Request, p *principal) error {
	a, err := s.store.AccountGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ev, next, err := s.store.EventList(r.Context(), &ovm.EventListParams{AccountID: a.ID, Newest: true,
		PageParams: ovm.PageParams{Limit: eventsOnAccount}})
	if err != nil {
		return err
	}
	d := accountDTO(s.engine.LiveAccount(a)) // a running step's live figures, on the replica running it
	for _, e := range ev {
		d.Events = append(d.Events, eventDTO(e))
	}
	d.EventsNextCursor = next
	return writeJSON(w, http.StatusOK, d)
}

// eventPage answers a page of events of sel (an account or a lease): the
// newest first, or with ?order=oldest the oldest first.
func (s *Server) eventPage(w http.ResponseWriter, r *http.Request, sel ovm.EventListParams) error {
	pp, err := pageParams(r)
	if err != nil {
		return err
	}
	sel.PageParams = pp
	switch r.URL.Query().Get("order") {
	case "", "newest":
		sel.Newest = true
	case "oldest":
	default:
		return ovm.Errorf(ovm.EInvalid, "order must be newest (the default) or oldest")
	}
	ev, next, err := s.store.EventList(r.Context(), &sel)
	if err != nil {
		return err
	}
	out := client.Page[client.Event]{Items: []client.Event{}, NextCursor: next}
	for _, e := range ev {
		out.Items = append(out.Items, eventDTO(e))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) accountEvents(w http.ResponseWriter, r *http.Request, _ *principal) error {
	a, err := s.store.AccountGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.eventPage(w, r, ovm.EventListParams{AccountID: a.ID})
}

func (s *Server) leaseEvents(w http.ResponseWriter, r *http.Request, p *principal) error {
	l, err := s.ownLease(r, p)
	if err != nil {
		return err
	}
	return s.eventPage(w, r, ovm.EventListParams{LeaseID: l.ID})
}

func (s *Server) accountRetry(w http.ResponseWriter, r *http.Request, p *principal) error {
	a, err := s.engine.RetryAccount(r.Context(), r.PathValue("id"), p.actor())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, accountDTO(a))
}

func (s *Server) accountRetire(w http.ResponseWriter, r *http.Request, p *principal) error {
	a, err := s.engine.RetireAccount(r.Context(), r.PathValue("id"), p.actor())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, accountDTO(a))
}

func (s *Server) keyCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.KeyRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = ovm.RoleUser
	}
	if err := ovm.CheckTeams(req.Teams); err != nil {
		return err
	}
	k, secret, err := ovm.NewAPIKey(req.Name, req.Role, s.clock.Now())
	if err != nil {
		return err
	}
	k.Teams = req.Teams
	if err := s.store.KeyCreate(r.Context(), k); err != nil {
		return err
	}
	s.log.Info("api key created", ovm.LogKeyName, k.Name, "role", k.Role, "by", p.Name)
	d := keyDTO(k)
	d.Key = secret
	return writeJSON(w, http.StatusCreated, d)
}

func (s *Server) keyList(w http.ResponseWriter, r *http.Request, p *principal) error {
	pp, err := pageParams(r)
	if err != nil {
		return err
	}
	keys, next, err := s.store.KeyList(r.Context(), &pp)
	if err != nil {
		return err
	}
	out := client.Page[client.Key]{Items: []client.Key{}, NextCursor: next}
	for _, k := range keys {
		out.Items = append(out.Items, keyDTO(k))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) keyRevoke(w http.ResponseWriter, r *http.Request, p *principal) error {
	id := r.PathValue("id")
	if id == p.KeyID {
		return ovm.Errorf(ovm.EConflict, "a key cannot revoke itself; use another admin key")
	}
	k, err := s.store.KeyRevoke(r.Context(), id, p.actor(), s.clock.Now())
	if err != nil {
		return err
	}
	s.log.Info("api key revoked", ovm.LogKeyName, k.Name, "by", p.Name)
	return writeJSON(w, http.StatusOK, keyDTO(k))
}

func (s *Server) accountInput(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req client.InputRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	a, err := s.engine.InputAccount(r.Context(), r.PathValue("id"), req.Name, req.Value, p.actor())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, accountDTO(a))
}

// phonePIN answers the contact flow (Amazon Connect) that calls AWS back:
// which PIN to key in for this number now.
func (s *Server) phonePIN(w http.ResponseWriter, r *http.Request, p *principal) error {
	number := r.PathValue("number")
	if pin, ok := s.engine.PIN(number); ok {
		return writeJSON(w, http.StatusOK, map[string]string{"number": number, "pin": pin})
	}
	return ovm.Errorf(ovm.ENotFound, "no verification is waiting on number %s", number)
}
