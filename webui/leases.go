package webui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

type homeData struct {
	Next      string
	Leases    []client.Lease
	Templates []templateOption
	// Template is the one the take form proposes.
	Template string
	// Caps are the spend caps that bound the person (docs/budgets.md).
	Caps []ovm.CapStatus
}

// templateOption is a template the person may use, with its pool's
// ready stock.
type templateOption struct {
	client.Template
	Ready int
}

func (u *UI) home(r *http.Request, s *session, v *view) error {
	return u.fillHome(r, s, v)
}

func (u *UI) fillHome(r *http.Request, s *session, v *view) error {
	c := u.client(s)
	leases, err := c.LeaseList(r.Context(), withCursor(r, url.Values{"state": {"active"}, "owner": {s.me.Name}, "limit": {"100"}}))
	if err != nil {
		return err
	}
	pools, err := c.PoolList(r.Context())
	if err != nil {
		return err
	}
	ready := map[string]int{}
	for _, p := range pools.Items {
		ready[p.Name] = p.Ready
	}
	tpls, err := c.TemplateList(r.Context())
	if err != nil {
		return err
	}
	opts := make([]templateOption, 0, len(tpls.Items))
	for _, t := range tpls.Items {
		opts = append(opts, templateOption{Template: t, Ready: ready[t.Pool]})
	}
	sort.Slice(opts, func(i, j int) bool { return opts[i].Name < opts[j].Name })
	me, err := c.Me(r.Context())
	if err != nil {
		return err
	}
	v.Page, v.Title = "home", "My leases"
	v.Data = homeData{Leases: leases.Items, Templates: opts, Template: u.cfg.DefaultPool, Next: leases.NextCursor, Caps: me.Caps}
	return nil
}

// takeForm reads the take form: a template (or, from older pages, a
// pool: its own template) and an optional duration.
func takeForm(r *http.Request) (*client.LeaseRequest, map[string]string) {
	req := &client.LeaseRequest{Template: strings.TrimSpace(r.PostFormValue("template")), Pool: strings.TrimSpace(r.PostFormValue("pool"))}
	errs := map[string]string{}
	if req.Template == "" && req.Pool == "" {
		errs["template"] = "Choose a template."
	}
	if t := strings.TrimSpace(r.PostFormValue("ttl")); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			errs["ttl"] = "Give a positive duration such as 2h or 90m, or leave it empty for the pool's default."
		} else {
			dd := client.Duration(d)
			req.TTL = &dd
		}
	}
	return req, errs
}

func (u *UI) take(w http.ResponseWriter, r *http.Request, s *session) {
	req, errs := takeForm(r)
	v := &view{Me: &s.me, CSRF: s.csrf, Form: r.PostForm}
	if len(errs) == 0 {
		l, err := u.client(s).LeaseCreate(r.Context(), req)
		if err == nil {
			http.Redirect(w, r, "/ui/leases/"+url.PathEscape(l.ID), http.StatusSeeOther)
			return
		}
		ae := apiError(err)
		if ae != nil && ae.Status == http.StatusServiceUnavailable {
			pool := req.Pool
			if t, err := u.client(s).TemplateGet(r.Context(), req.Template); err == nil && req.Template != "" {
				pool = t.Pool
			}
			p, _ := u.client(s).PoolGet(r.Context(), pool)
			u.render(w, r, http.StatusOK, &view{Page: "wait", Title: "Waiting for an account", Me: &s.me, CSRF: s.csrf,
				Form: r.PostForm, Data: waitData{Pool: p, Message: ae.Message}})
			return
		}
		if ae == nil || ae.Status >= 500 || ae.Status == http.StatusUnauthorized {
			u.failed(w, r, s, v, err)
			return
		}
		// The form has two fields: an unknown template or pool is 404, one
		// the person may not use 403; anything else the API refuses of it
		// is the duration.
		field := "ttl"
		if ae.Status == http.StatusNotFound || ae.Status == http.StatusForbidden {
			field = "template"
			if req.Template == "" {
				field = "pool"
			}
		}
		errs[field] = ae.Message
	}
	if err := u.fillHome(r, s, v); err != nil {
		u.failed(w, r, s, v, err)
		return
	}
	v.Errors = errs
	u.render(w, r, http.StatusBadRequest, v)
}

type waitData struct {
	Pool    *client.Pool
	Message string
}

// tryTake is the wait page's script asking again: JSON, the lease's page
// when an account came, or the pool's progress.
func (u *UI) tryTake(w http.ResponseWriter, r *http.Request, s *session) {
	req, errs := takeForm(r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if len(errs) > 0 {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "the form is not valid any more: reload the page"})
		return
	}
	l, err := u.client(s).LeaseCreate(r.Context(), req)
	if err == nil {
		json.NewEncoder(w).Encode(map[string]string{"location": "/ui/leases/" + url.PathEscape(l.ID)})
		return
	}
	ae := apiError(err)
	if ae == nil || ae.Status != http.StatusServiceUnavailable {
		status, msg := http.StatusBadGateway, "OVM could not answer; reload the page"
		if ae != nil {
			status, msg = ae.Status, ae.Message
		}
		if status == http.StatusUnauthorized {
			u.end(w, r, s)
			msg = "Your sign-in is no longer valid: sign in again."
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	out := map[string]any{"waiting": ae.Message}
	if p, err := u.client(s).PoolGet(r.Context(), req.Pool); err == nil {
		out["ready"], out["in_flight"], out["target"] = p.Ready, p.InFlight, p.Stock.Target
	}
	json.NewEncoder(w).Encode(out)
}

func (u *UI) leasePage(r *http.Request, s *session, v *view) error {
	l, err := u.client(s).LeaseGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	v.Page, v.Title, v.Data = "lease", "Lease "+l.ID, &leaseData{Lease: l, SpendChart: newSpendChart(l.Spend), BudgetBar: newBudgetBar(l)}
	return nil
}

// leaseData is the lease page's data: the lease and its spend drawn.
type leaseData struct {
	*client.Lease
	SpendChart *spendChart
	BudgetBar  *budgetBar
}

// freeze and unfreeze are an admin's: a frozen lease keeps its holder and
// gives no access until it is unfrozen (docs/budgets.md). The API (and so
// the engine's FreezeLease, UnfreezeLease) does it; a refusal (a lease
// that ended, one already frozen) is shown on the lease's page.
func (u *UI) freeze(w http.ResponseWriter, r *http.Request, s *session) {
	u.freezeOrUnfreeze(w, r, s, "frozen", func(c *client.Client, id string) error {
		_, err := c.LeaseFreeze(r.Context(), id, &client.FreezeRequest{Reason: strings.TrimSpace(r.PostFormValue("reason"))})
		return err
	})
}

func (u *UI) unfreeze(w http.ResponseWriter, r *http.Request, s *session) {
	u.freezeOrUnfreeze(w, r, s, "unfrozen", func(c *client.Client, id string) error {
		_, err := c.LeaseUnfreeze(r.Context(), id)
		return err
	})
}

func (u *UI) freezeOrUnfreeze(w http.ResponseWriter, r *http.Request, s *session, done string, fn func(*client.Client, string) error) {
	id := r.PathValue("id")
	if err := fn(u.client(s), id); err != nil {
		if ae := apiError(err); ae != nil && (ae.Status == http.StatusConflict || ae.Status == http.StatusBadRequest) {
			v := &view{Me: &s.me, CSRF: s.csrf}
			if ferr := u.leasePage(r, s, v); ferr == nil {
				v.Error = ae.Message
				u.render(w, r, ae.Status, v)
				return
			}
		}
		u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
		return
	}
	http.Redirect(w, r, "/ui/leases/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
}

// again shows the lease page with a field's error; nothing changed.
func (u *UI) again(w http.ResponseWriter, r *http.Request, s *session, field, msg string) {
	v := &view{Me: &s.me, CSRF: s.csrf, Form: r.PostForm, Errors: map[string]string{field: msg}}
	if err := u.leasePage(r, s, v); err != nil {
		u.failed(w, r, s, v, err)
		return
	}
	u.render(w, r, http.StatusBadRequest, v)
}

func (u *UI) extend(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := time.ParseDuration(strings.TrimSpace(r.PostFormValue("extend_by")))
	if err != nil || d <= 0 {
		u.again(w, r, s, "extend_by", "Give a positive duration such as 1h or 30m.")
		return
	}
	dd := client.Duration(d)
	id := r.PathValue("id")
	if _, err := u.client(s).LeaseExtend(r.Context(), id, &client.ExtendRequest{ExtendBy: &dd}); err != nil {
		if ae := apiError(err); ae != nil && ae.Status < 500 && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusNotFound {
			u.again(w, r, s, "extend_by", ae.Message)
			return
		}
		u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
		return
	}
	http.Redirect(w, r, "/ui/leases/"+url.PathEscape(id)+"?done=extended", http.StatusSeeOther)
}

func (u *UI) release(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		v := &view{Me: &s.me, CSRF: s.csrf}
		if err := u.leasePage(r, s, v); err != nil {
			u.failed(w, r, s, v, err)
			return
		}
		v.Form = url.Values{"confirm_release": {"1"}}
		u.render(w, r, http.StatusOK, v)
		return
	}
	if _, err := u.client(s).LeaseRelease(r.Context(), id); err != nil {
		u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
		return
	}
	http.Redirect(w, r, "/ui/?done=released", http.StatusSeeOther)
}
