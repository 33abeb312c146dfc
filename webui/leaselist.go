package webui

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// leaseStates are the leases page's state filter: the states people see
// (ovm.LeaseStates), frozen among them.
var leaseStates = ovm.LeaseStates

// leasesData is the admins' leases page: every owner's, filtered.
type leasesData struct {
	Leases    []client.Lease
	States    []ovm.LeaseState
	Pools     []client.Pool
	Templates []string
	// The filter as asked.
	Owner, Team, Pool, Template, State string
	// Next is the next page's link ("" on the last page).
	Next string
}

// leases is the admins' page of every owner's leases, filtered by owner,
// team, pool, template and state. The API stores a frozen lease as an
// active one with a freeze record, and lists it under state=active: the
// page asks for active leases and keeps those the API shows in the state
// asked (so a page of a frozen filter may hold fewer than 100 rows, and
// the next page link goes on).
func (u *UI) leases(r *http.Request, s *session, v *view) error {
	q := r.URL.Query()
	c := u.client(s)
	ps, err := c.PoolList(r.Context())
	if err != nil {
		return err
	}
	tpls, err := c.TemplateList(r.Context())
	if err != nil {
		return err
	}
	d := leasesData{States: leaseStates, Pools: ps.Items, Owner: strings.TrimSpace(q.Get("owner")), Team: strings.TrimSpace(q.Get("team")),
		Pool: q.Get("pool"), Template: q.Get("template"), State: q.Get("state")}
	for _, t := range tpls.Items {
		d.Templates = append(d.Templates, t.Name)
	}
	sort.Strings(d.Templates)
	v.Page, v.Title, v.Data = "leases", "Leases", &d
	errs := map[string]string{}
	if d.State != "" && !slices.Contains(leaseStates, ovm.LeaseState(d.State)) {
		errs["state"] = "Choose a state from the list."
	}
	if d.Pool != "" && !poolKnown(ps.Items, d.Pool) {
		errs["pool"] = "Choose a pool from the list."
	}
	if d.Template != "" && !slices.Contains(d.Templates, d.Template) {
		errs["template"] = "Choose a template from the list."
	}
	if len(errs) > 0 {
		v.Errors = errs
		return nil
	}
	params, filter := url.Values{"limit": {"100"}}, url.Values{}
	for k, val := range map[string]string{"owner": d.Owner, "team": d.Team, "pool": d.Pool, "template": d.Template, "state": d.State} {
		if val != "" {
			params.Set(k, val)
			filter.Set(k, val)
		}
	}
	if d.State == string(ovm.LeaseFrozen) {
		params.Set("state", string(ovm.LeaseActive))
	}
	if cur := q.Get("cursor"); cur != "" {
		params.Set("cursor", cur)
	}
	page, err := c.LeaseList(r.Context(), params)
	if err != nil {
		return fieldError(v, "owner", err)
	}
	for _, l := range page.Items {
		if d.State == "" || string(l.State) == d.State {
			d.Leases = append(d.Leases, l)
		}
	}
	if page.NextCursor != "" {
		filter.Set("cursor", page.NextCursor)
		d.Next = "/ui/leases?" + filter.Encode()
	}
	return nil
}
