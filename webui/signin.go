package webui

import (
	"net/http"
	"strings"

	"github.com/ovmdev/ovm"
)

const preloginCookie = "ovm_prelogin"

// loginData is what the sign-in page shows: the issuers, and where the
// first admin key is.
type loginData struct {
	Issuers []Issuer
	KeyFile string
}

// signInPage shows the sign-in forms, with a fresh token against login
// CSRF (someone signing a victim in as themselves).
func (u *UI) signInPage(w http.ResponseWriter, r *http.Request, status int, keyErr, msg string) {
	tok := newToken()
	http.SetCookie(w, &http.Cookie{Name: preloginCookie, Value: tok, Path: "/ui/", MaxAge: int(loginTTL.Seconds()),
		HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteLaxMode})
	v := &view{Page: "login", Title: "Sign in", CSRF: tok, Error: msg, Data: loginData{Issuers: u.cfg.Issuers, KeyFile: u.cfg.AdminKeyFile}}
	if keyErr != "" {
		v.Errors = map[string]string{"key": keyErr}
	}
	u.render(w, r, status, v)
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if u.current(r) != nil {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	u.signInPage(w, r, http.StatusOK, "", "")
}

func (u *UI) loginKey(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	c, err := r.Cookie(preloginCookie)
	if r.ParseForm() != nil || err != nil || r.PostFormValue("csrf") == "" || r.PostFormValue("csrf") != c.Value {
		u.signInPage(w, r, http.StatusForbidden, "", "The form's security token is missing or stale: try again.")
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	if !ovm.IsKeySecret(key) {
		u.signInPage(w, r, http.StatusBadRequest, "That is not an OVM API key (ovm ... as `ovm key create` printed it).", "")
		return
	}
	me, err := u.client(&session{cred: key}).Me(r.Context())
	if err != nil {
		msg := "OVM could not check the key; try again."
		if ae := apiError(err); ae != nil {
			msg = ae.Message
		}
		u.signInPage(w, r, http.StatusUnauthorized, msg, "")
		return
	}
	u.start(w, r, keyPrincipal(key), key, *me, u.clock.Now().Add(u.cfg.SessionTTL))
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *session) {
	u.end(w, r, s)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}
