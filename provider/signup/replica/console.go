package replica

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
)

func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se := s.sess(w, r)
	if r.Method == http.MethodPost {
		r.ParseForm()
		a := s.accounts[r.PostForm.Get("email")]
		if a == nil || a.Password != r.PostForm.Get("password") || a.Closed {
			s.render(w, view{Title: "Sign in as the root user", Action: "/console/login", Error: "Your authentication information is incorrect.",
				Body: template.HTML(field("Root user email address", "email", "email") + field("Password", "password", "password") + button("Sign in"))})
			return
		}
		se.acct, se.loggedIn = a, true
		http.Redirect(w, r, "/console/home", http.StatusSeeOther)
		return
	}
	s.render(w, view{Title: "Sign in as the root user", Action: "/console/login",
		Body: template.HTML(field("Root user email address", "email", "email") + field("Password", "password", "password") + button("Sign in"))})
}

// consolePage serves the console pages of a signed-in root user.
func (s *Server) consolePage(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.failOnce[name] {
			delete(s.failOnce, name)
			http.Error(w, "Internal error, please try again", http.StatusInternalServerError)
			return
		}
		se := s.sess(w, r)
		if !se.loggedIn || se.acct == nil {
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		}
		a := se.acct
		if r.Method == http.MethodPost {
			r.ParseForm()
			f := r.PostForm.Get
			switch name {
			case "billing":
				a.Currency, a.PDFInvoices, a.BillingEmail = f("currency"), f("pdf") == "yes", f("billing_email")
			case "stack":
				if f("ack") != "yes" {
					s.render(w, view{Title: "Quick create stack", Action: "/console/stack", Error: "Acknowledge that the stack creates IAM resources."})
					return
				}
				if err := s.Console.CreateRole(a.ID, f("role"), f("principal")); err != nil {
					s.render(w, view{Title: "Quick create stack", Action: "/console/stack", Error: "Stack creation failed: " + err.Error()})
					return
				}
				a.Role = f("role")
			case "tax":
				a.TaxInheritance = f("inherit") == "yes"
			case "close":
				if f("understand") != "yes" || f("confirm") != a.ID {
					s.render(w, view{Title: "Close account", Action: "/console/close", Error: "Confirm by checking the box and entering your account ID."})
					return
				}
				a.Closed = true
				se.loggedIn = false
				s.render(w, view{Title: "Account closed", Body: template.HTML("<p>Your account is closed (SUSPENDED).</p>")})
				return
			}
			http.Redirect(w, r, "/console/home", http.StatusSeeOther)
			return
		}
		var b strings.Builder
		v := view{Action: "/console/" + name}
		switch name {
		case "home":
			v.Title = "Console Home"
			b.WriteString(fmt.Sprintf(`<p id="account-id">Account ID: %s</p><p>Settings saved.</p>`, a.ID))
		case "billing":
			v.Title = "Billing preferences"
			b.WriteString(`<label for="f-currency">Invoice currency</label><select id="f-currency" name="currency"><option value="USD">USD</option><option value="EUR">EUR</option><option value="GBP">GBP</option></select>`)
			b.WriteString(`<label><input type="checkbox" name="pdf" value="yes">Receive PDF invoice by email</label>`)
			b.WriteString(field("Billing contact email", "billing_email", "email") + button("Save preferences"))
		case "stack":
			v.Title = "Quick create stack"
			b.WriteString(`<p>Template: OVMCrossAccountRole.yaml</p>` + field("RoleName", "role", "text") + field("TrustedPrincipal", "principal", "text"))
			b.WriteString(`<label><input type="checkbox" name="ack" value="yes">I acknowledge that AWS CloudFormation might create IAM resources.</label>` + button("Create stack"))
		case "tax":
			v.Title = "Tax settings"
			b.WriteString(`<label><input type="checkbox" name="inherit" value="yes">Enable tax inheritance</label>` + button("Save tax settings"))
		case "close":
			v.Title = "Close account"
			b.WriteString(`<label><input type="checkbox" name="understand" value="yes">I understand that closing my account is permanent</label>`)
			b.WriteString(field("Enter your account ID to confirm", "confirm", "text") + button("Close account"))
		}
		v.Body = template.HTML(b.String())
		s.render(w, v)
	}
}

// consoleForgot is the root user's password recovery: it mails a one-time
// reset link to the account's address.
func (s *Server) consoleForgot(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	form := template.HTML(field("Root user email address", "email", "email") + button("Send reset link"))
	if r.Method != http.MethodPost {
		s.render(w, view{Title: "Password recovery", Action: "/console/forgot", Body: form})
		return
	}
	r.ParseForm()
	if a := s.accounts[r.PostForm.Get("email")]; a != nil && !a.Closed {
		token := randHex(16)
		s.resets[token] = a
		link := "http://" + r.Host + "/console/reset?token=" + token
		if err := s.Mail.Send(a.Email, "Password recovery", "Reset your password with this link:\n\n"+link+"\n\n(replica)"); err != nil {
			s.render(w, view{Title: "Password recovery", Action: "/console/forgot", Error: "We could not send the e-mail.", Body: form})
			return
		}
	}
	// As AWS does, the page does not tell whether the address exists.
	s.render(w, view{Title: "Check your e-mail", Body: template.HTML("<p>If the address belongs to an account, a reset link is on its way.</p>")})
}

// consoleReset sets a new password through a mailed link (used once).
func (s *Server) consoleReset(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	token := r.URL.Query().Get("token")
	a := s.resets[token]
	if a == nil {
		s.render(w, view{Title: "Password recovery", Error: "This reset link is not valid any more."})
		return
	}
	form := template.HTML(field("New password", "password", "password") + field("Confirm new password", "confirm", "password") + button("Reset password"))
	action := "/console/reset?token=" + token
	if r.Method != http.MethodPost {
		s.render(w, view{Title: "Reset your password", Action: action, Body: form})
		return
	}
	r.ParseForm()
	pw := r.PostForm.Get("password")
	if len(pw) < 8 || pw != r.PostForm.Get("confirm") {
		s.render(w, view{Title: "Reset your password", Action: action, Error: "The passwords must match and have at least 8 characters.", Body: form})
		return
	}
	a.Password = pw
	a.Resets++
	delete(s.resets, token)
	s.render(w, view{Title: "Password reset", Body: template.HTML(`<p>Your password was changed. <a href="/console/login">Sign in</a></p>`)})
}
