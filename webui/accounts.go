package webui

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// accountStates are the filter's choices.
var accountStates = []ovm.AccountState{ovm.AccountPending, ovm.AccountCreating, ovm.AccountBootstrapping, ovm.AccountReady,
	ovm.AccountLeased, ovm.AccountCleaning, ovm.AccountClosing, ovm.AccountQuarantined, ovm.AccountClosed}

type accountsData struct {
	Accounts []client.Account
	States   []ovm.AccountState
	Pools    []client.Pool
	State    string
	Pool     string
	Next     string
}

func (u *UI) accounts(r *http.Request, s *session, v *view) error {
	q := r.URL.Query()
	c := u.client(s)
	ps, err := c.PoolList(r.Context())
	if err != nil {
		return err
	}
	d := accountsData{States: accountStates, Pools: ps.Items, State: q.Get("state"), Pool: q.Get("pool")}
	v.Page, v.Title, v.Data = "accounts", "Accounts", &d
	if d.State != "" && !slices.Contains(accountStates, ovm.AccountState(d.State)) {
		v.Errors = map[string]string{"state": "Choose a state from the list."}
		return nil
	}
	if d.Pool != "" && !poolKnown(ps.Items, d.Pool) {
		v.Errors = map[string]string{"pool": "Choose a pool from the list."}
		return nil
	}
	params := url.Values{"limit": {"100"}}
	for _, k := range []string{"state", "pool", "cursor"} {
		if q.Get(k) != "" {
			params.Set(k, q.Get(k))
		}
	}
	page, err := c.AccountList(r.Context(), params)
	if err != nil {
		return fieldError(v, "state", err)
	}
	d.Accounts, d.Next = page.Items, page.NextCursor
	return nil
}

type accountData struct {
	Account *client.Account
	// Lease is the account's lease while it is leased (nil otherwise):
	// its id and holder.
	Lease    *client.Lease
	Evidence []ovm.Evidence
	Confirm  string // the action to confirm, if any
	// Events are the page of the log shown, newest first, and EventsNext
	// the cursor of the older ones ("" at the log's beginning).
	Events     []client.Event
	EventsNext string
	// Older says the page is not the newest (?events=<cursor>).
	Older bool
}

func (u *UI) account(r *http.Request, s *session, v *view) error {
	return u.fillAccount(r, s, v, "")
}

func (u *UI) fillAccount(r *http.Request, s *session, v *view, confirm string) error {
	c := u.client(s)
	a, err := c.AccountGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ev, err := c.Evidence(r.Context(), a.ID)
	if err != nil {
		return err
	}
	d := accountData{Account: a, Evidence: ev.Items, Confirm: confirm, Events: a.Events, EventsNext: a.EventsNextCursor}
	if a.LeaseID != "" {
		if d.Lease, err = c.LeaseGet(r.Context(), a.LeaseID); err != nil {
			if ae := apiError(err); ae == nil || ae.Status != http.StatusNotFound {
				return err
			}
		}
	}
	if cursor := r.URL.Query().Get("events"); cursor != "" {
		page, err := c.AccountEvents(r.Context(), a.ID, url.Values{"cursor": {cursor}, "limit": {"100"}})
		if err != nil {
			return err
		}
		d.Events, d.EventsNext, d.Older = page.Items, page.NextCursor, true
	}
	v.Page, v.Title, v.Data = "account", "Account "+a.ID, d
	return nil
}

// evidence passes an evidence file on (to an admin: its route is one), with
// the API's content type; a captured page stays sandboxed (no script, an
// origin of its own).
func (u *UI) evidence(w http.ResponseWriter, r *http.Request) {
	s := u.current(r)
	if s == nil {
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	v := &view{Me: &s.me, CSRF: s.csrf}
	b, ct, err := u.client(s).EvidenceFile(r.Context(), r.PathValue("id"), r.PathValue("record"), r.PathValue("file"))
	if err != nil {
		u.failed(w, r, s, v, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Security-Policy", client.EvidenceCSP)
	w.Header().Set("Cache-Control", "private, no-store")
	w.Write(b)
}

// accountAction retries or retires an account once the form confirms it;
// without confirm=yes it shows the confirmation.
func (u *UI) accountAction(what string) func(w http.ResponseWriter, r *http.Request, s *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		v := &view{Me: &s.me, CSRF: s.csrf}
		if r.PostFormValue("confirm") != "yes" {
			if err := u.fillAccount(r, s, v, what); err != nil {
				u.failed(w, r, s, v, err)
				return
			}
			u.render(w, r, http.StatusOK, v)
			return
		}
		c := u.client(s)
		id := r.PathValue("id")
		var err error
		if what == "retry" {
			_, err = c.AccountRetry(r.Context(), id)
		} else {
			_, err = c.AccountRetire(r.Context(), id)
		}
		if err != nil {
			if ae := apiError(err); ae != nil && ae.Status == http.StatusConflict {
				if ferr := u.fillAccount(r, s, v, ""); ferr == nil {
					v.Error = ae.Message
					u.render(w, r, http.StatusConflict, v)
					return
				}
			}
			u.failed(w, r, s, v, err)
			return
		}
		done := map[string]string{"retry": "retried", "retire": "retired"}[what]
		http.Redirect(w, r, "/ui/accounts/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
	}
}
