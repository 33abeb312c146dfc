package webui

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/ovmdev/ovm/client"
)

// cliURL is the URL the CLI examples name: ui.public_url, else the
// listen address when a client can reach it, else "" (the CLI's OVM_URL).
// Never the request's Host header.
func (u *UI) cliURL() string {
	if u.public != nil {
		return strings.TrimRight(u.public.String(), "/")
	}
	host, port, err := net.SplitHostPort(u.cfg.ListenAddr)
	if err != nil || port == "0" || host == "" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port)
}

type credentialsData struct {
	Lease   *client.Lease
	Env     string
	Process string
	Creds   *client.Credentials
}

func (u *UI) credentials(w http.ResponseWriter, r *http.Request, s *session) {
	c := u.client(s)
	id := r.PathValue("id")
	l, err := c.LeaseGet(r.Context(), id)
	if err == nil {
		var cr *client.Credentials
		if cr, err = c.LeaseCredentials(r.Context(), id); err == nil {
			env := cr.EnvLines()
			flag := ""
			if base := u.cliURL(); base != "" {
				flag = " --url " + base
			}
			process := fmt.Sprintf("[profile ovm-%s]\ncredential_process = ovm lease credentials %s --format process%s\n", l.ID, l.ID, flag)
			u.render(w, r, http.StatusOK, &view{Page: "credentials", Title: "Credentials for " + l.ID, Me: &s.me, CSRF: s.csrf,
				Data: credentialsData{Lease: l, Env: env, Process: process, Creds: cr}})
			return
		}
	}
	u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
}

func (u *UI) console(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	a, err := u.client(s).LeaseConsole(r.Context(), id, "")
	if err != nil {
		u.failed(w, r, s, &view{Me: &s.me, CSRF: s.csrf}, err)
		return
	}
	link := a.URL
	if a.Simulated { // the sim's link opens nothing: show where it would land
		link = "/ui/simulated-console?lease=" + url.QueryEscape(id)
	}
	u.render(w, r, http.StatusOK, &view{Page: "console", Title: "AWS console", Me: &s.me, CSRF: s.csrf,
		Data: struct {
			LeaseID string
			URL     string
			Answer  *client.ConsoleAnswer
		}{id, link, a}})
}

// simulatedConsole is where the sim provider's console link lands in the
// console: the real one would be the AWS console, signed in.
func (u *UI) simulatedConsole(r *http.Request, s *session, v *view) error {
	l, err := u.client(s).LeaseGet(r.Context(), r.URL.Query().Get("lease"))
	if err != nil {
		return err
	}
	v.Page, v.Title, v.Data = "simulated", "Simulated AWS console", l
	return nil
}
