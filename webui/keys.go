package webui

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

type keysData struct {
	Next    string
	Keys    []client.Key
	Created *client.Key
	Confirm string // the key id whose revocation to confirm
}

func (u *UI) keys(r *http.Request, s *session, v *view) error {
	u.mu.Lock()
	created := s.newKey
	s.newKey = nil
	u.mu.Unlock()
	return u.fillKeys(r, s, v, created, "")
}

func (u *UI) fillKeys(r *http.Request, s *session, v *view, created *client.Key, confirm string) error {
	ks, err := u.client(s).KeyList(r.Context(), withCursor(r, url.Values{"limit": {"100"}}))
	if err != nil {
		return err
	}
	v.Page, v.Title, v.Data = "keys", "API keys", keysData{Keys: ks.Items, Created: created, Confirm: confirm, Next: ks.NextCursor}
	return nil
}

func (u *UI) keyCreate(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Me: &s.me, CSRF: s.csrf, Form: r.PostForm}
	req := &client.KeyRequest{Name: strings.TrimSpace(r.PostFormValue("name")), Role: ovm.Role(r.PostFormValue("role"))}
	errs := map[string]string{}
	if req.Name == "" {
		errs["name"] = "Give the key a name (who or what uses it)."
	}
	if !req.Role.Valid() {
		errs["role"] = "Choose user or admin."
	}
	var created *client.Key
	if len(errs) == 0 {
		k, err := u.client(s).KeyCreate(r.Context(), req)
		if ae := apiError(err); ae != nil && ae.Status < 500 && ae.Status != http.StatusUnauthorized && ae.Status != http.StatusForbidden {
			errs["name"] = ae.Message
		} else if err != nil {
			u.failed(w, r, s, v, err)
			return
		}
		created = k
	}
	if len(errs) == 0 {
		// Shown once by the page the browser goes to: reloading it makes
		// no second key.
		u.mu.Lock()
		s.newKey = created
		u.mu.Unlock()
		http.Redirect(w, r, "/ui/keys", http.StatusSeeOther)
		return
	}
	if err := u.fillKeys(r, s, v, nil, ""); err != nil {
		u.failed(w, r, s, v, err)
		return
	}
	v.Errors = errs
	u.render(w, r, http.StatusBadRequest, v)
}

func (u *UI) keyRevoke(w http.ResponseWriter, r *http.Request, s *session) {
	v := &view{Me: &s.me, CSRF: s.csrf}
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		if err := u.fillKeys(r, s, v, nil, id); err != nil {
			u.failed(w, r, s, v, err)
			return
		}
		u.render(w, r, http.StatusOK, v)
		return
	}
	if _, err := u.client(s).KeyRevoke(r.Context(), id); err != nil {
		if ae := apiError(err); ae != nil && ae.Status == http.StatusConflict {
			if ferr := u.fillKeys(r, s, v, nil, ""); ferr == nil {
				v.Error = ae.Message
				u.render(w, r, http.StatusConflict, v)
				return
			}
		}
		u.failed(w, r, s, v, err)
		return
	}
	http.Redirect(w, r, "/ui/keys?done=revoked", http.StatusSeeOther)
}
