package replica

import (
	"encoding/binary"
	"fmt"
	"html/template"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
)

// next is the page order of the sign-up for variant v.
func (s *Server) next(from string) string {
	order := []string{"start", "verify", "password", "contact", "payment", "identity", "pin", "support", "done"}
	if s.variant == ExtraStep {
		order = []string{"start", "verify", "password", "contact", "goals", "payment", "identity", "pin", "support", "done"}
	}
	for i, p := range order {
		if p == from && i+1 < len(order) {
			return order[i+1]
		}
	}
	return "done"
}

var paths = map[string]string{"start": "/signup", "verify": "/signup/verify", "password": "/signup/password",
	"contact": "/signup/contact", "goals": "/signup/goals", "payment": "/signup/payment", "3ds": "/signup/3ds",
	"identity": "/signup/identity", "pin": "/signup/pin", "support": "/signup/support", "done": "/signup/done"}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	for name, path := range paths {
		s.mux.HandleFunc(path, s.signupPage(name))
	}
	s.mux.HandleFunc("/captcha/{file}", s.captchaFile)
	s.mux.HandleFunc("/console/login", s.consoleLogin)
	s.mux.HandleFunc("/console/billing", s.consolePage("billing"))
	s.mux.HandleFunc("/console/stack", s.consolePage("stack"))
	s.mux.HandleFunc("/console/close", s.consolePage("close"))
	s.mux.HandleFunc("/console/tax", s.consolePage("tax"))
	s.mux.HandleFunc("/console/home", s.consolePage("home"))
	s.mux.HandleFunc("/console/forgot", s.consoleForgot)
	s.mux.HandleFunc("/console/reset", s.consoleReset)
}

// signupPage serves one sign-up page. A session can only show the page it
// is on; GET of another page sends it to its own.
func (s *Server) signupPage(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.failOnce[name] {
			delete(s.failOnce, name)
			http.Error(w, "Internal error, please try again", http.StatusInternalServerError)
			return
		}
		se := s.sess(w, r)
		if se.page != name {
			http.Redirect(w, r, paths[se.page], http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.ParseForm()
			if msg := s.submit(se, name, r); msg != "" {
				s.show(w, se, name, msg)
				return
			}
			if se.acct != nil {
				se.acct.Steps = append(se.acct.Steps, name)
			}
			http.Redirect(w, r, paths[se.page], http.StatusSeeOther)
			return
		}
		s.show(w, se, name, "")
	}
}

// captchaHTML is a captcha with an image and an audio alternative.
func (s *Server) captchaHTML(se *session) string {
	answer := randDigits(6)
	token := randHex(8)
	se.captcha = answer
	s.captchas[token] = answer
	return fmt.Sprintf(`<fieldset><legend>Security check</legend><img src="/captcha/%s.png" alt="captcha image">
<p><a href="/captcha/%s.wav">Play audio</a></p>%s</fieldset>`, token, token, field("Type the characters shown", "captcha", "text"))
}

func (s *Server) show(w http.ResponseWriter, se *session, name, errMsg string) {
	v := view{Action: paths[name], Error: errMsg}
	var b strings.Builder
	switch name {
	case "start":
		v.Title = "Sign up for AWS"
		label := "Root user email address"
		if s.variant == RenamedField {
			label = "Email address for the root user"
		}
		b.WriteString(field(label, "email", "email") + field("AWS account name", "name", "text"))
		if s.variant == MovedCaptcha {
			b.WriteString(s.captchaHTML(se))
		}
		b.WriteString(button("Verify email address"))
	case "verify":
		v.Title = "Confirm you are you"
		b.WriteString(fmt.Sprintf("<p>We sent a code to %s.</p>", template.HTMLEscapeString(se.acct.Email)))
		b.WriteString(field("Verification code", "code", "text") + button("Verify"))
	case "password":
		v.Title = "Create your password"
		b.WriteString(field("Root user password", "password", "password") + field("Confirm root user password", "confirm", "password") + button("Continue"))
	case "contact":
		v.Title = "Contact information"
		b.WriteString(`<fieldset><legend>How do you plan to use AWS?</legend><label><input type="radio" name="kind" value="business">Business</label><label><input type="radio" name="kind" value="personal">Personal</label></fieldset>`)
		b.WriteString(field("Full name", "fullname", "text") + field("Company name", "company", "text") + field("Phone number", "phone", "tel"))
		b.WriteString(`<label id="country-label" for="country-input">Country or Region</label>
<input id="country-input" role="combobox" aria-expanded="false" aria-controls="country-list" aria-labelledby="country-label" data-target="country" autocomplete="off">
<input type="hidden" id="country" name="country"><div id="country-list" role="listbox" hidden>`)
		for _, c := range []string{"Austria", "Germany", "Ireland", "United Kingdom", "United States"} {
			b.WriteString(fmt.Sprintf(`<div role="option" data-value="%s">%s</div>`, c, c))
		}
		b.WriteString(`</div>`)
		b.WriteString(field("Address", "address", "text") + field("City", "city", "text") + field("State, province, or region", "state", "text") + field("Postal code", "postal", "text"))
		b.WriteString(`<label><input type="checkbox" name="agree" value="yes">I have read and agree to the terms of the AWS Customer Agreement</label>`)
		b.WriteString(button("Agree and Continue"))
	case "goals":
		v.Title = "Tell us about your goals"
		b.WriteString(`<fieldset><legend>What is your main goal?</legend><label><input type="radio" name="goal" value="learn">Learn and explore</label><label><input type="radio" name="goal" value="build">Build an application</label></fieldset>`)
		b.WriteString(button("Continue"))
	case "payment":
		v.Title = "Billing information"
		b.WriteString(field("Credit or Debit card number", "card", "text"))
		b.WriteString(`<label for="f-month">Expiration month</label><select id="f-month" name="month">`)
		for m := 1; m <= 12; m++ {
			b.WriteString(fmt.Sprintf(`<option value="%02d">%02d</option>`, m, m))
		}
		b.WriteString(`</select><label for="f-year">Expiration year</label><select id="f-year" name="year">`)
		for y := 2026; y <= 2035; y++ {
			b.WriteString(fmt.Sprintf(`<option value="%d">%d</option>`, y, y))
		}
		b.WriteString(`</select>` + field("Cardholder's name", "holder", "text") + button("Verify and Continue"))
	case "3ds":
		v.Title = "Verify your card"
		b.WriteString("<p>Your bank sent a code to the phone number of the card.</p>" + field("Bank verification code", "code", "text") + button("Submit"))
	case "identity":
		v.Title = "Confirm your identity"
		b.WriteString(`<fieldset><legend>How should we send you the verification code?</legend><label><input type="radio" name="method" value="sms">Text message (SMS)</label><label><input type="radio" name="method" value="voice">Voice call</label></fieldset>`)
		b.WriteString(field("Mobile phone number", "phone", "tel"))
		if s.variant != MovedCaptcha {
			b.WriteString(s.captchaHTML(se))
		}
		b.WriteString(button("Call me now"))
	case "pin":
		v.Title = "Answer the call"
		if se.pin == "" {
			se.pin = randDigits(4)
		}
		b.WriteString(fmt.Sprintf(`<p>When we call, key in this PIN:</p><p id="pin" aria-label="PIN">PIN: %s</p>`, se.pin))
		b.WriteString(button("I have keyed in the PIN"))
	case "support":
		v.Title = "Select a support plan"
		b.WriteString(`<label><input type="radio" name="plan" value="basic">Basic support - Free</label><label><input type="radio" name="plan" value="developer">Developer support</label>`)
		b.WriteString(button("Complete sign up"))
	case "done":
		v.Title = "Congratulations"
		b.WriteString(fmt.Sprintf(`<p>Your AWS account is ready.</p><p id="account-id">Account ID: %s</p><p><a href="/console/login">Go to the AWS Management Console</a></p>`, se.acct.ID))
	}
	v.Body = template.HTML(b.String())
	s.render(w, v)
}

var emailRe = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// submit checks a page's form and moves the session on; it returns an
// error message to show, or "".
func (s *Server) submit(se *session, name string, r *http.Request) string {
	f := r.PostForm.Get
	captchaOK := func() bool { return se.captcha != "" && f("captcha") == se.captcha }
	switch name {
	case "start":
		if !emailRe.MatchString(f("email")) || f("name") == "" {
			return "Enter a valid email address and an account name."
		}
		if s.variant == MovedCaptcha && !captchaOK() {
			return "The characters you entered do not match."
		}
		if a := s.accounts[f("email")]; a != nil {
			return "An account with this email address already exists."
		}
		se.acct = &Account{Email: f("email"), Name: f("name")}
		se.code = randDigits(6)
		if err := s.Mail.Send(se.acct.Email, "AWS email verification", "Verification code:\n\n"+se.code+"\n\n(replica)"); err != nil {
			return "We could not send the email: " + err.Error()
		}
	case "verify":
		if f("code") != se.code {
			return "The code is not valid."
		}
	case "password":
		if len(f("password")) < 12 || f("password") != f("confirm") {
			return "Passwords must match and be at least 12 characters."
		}
		se.acct.Password = f("password")
	case "contact":
		if f("kind") != "business" || f("fullname") == "" || f("country") == "" || f("agree") != "yes" || f("phone") == "" {
			return "Complete every field, choose a country and accept the agreement."
		}
		se.acct.Country = f("country")
	case "goals":
		if f("goal") == "" {
			return "Choose a goal."
		}
	case "payment":
		card := strings.ReplaceAll(f("card"), " ", "")
		if len(card) < 15 || f("holder") == "" || f("month") == "" || f("year") == "" {
			return "Enter a valid card."
		}
		se.acct.Card = card[len(card)-4:]
		if strings.HasSuffix(card, "0003") { // this test card asks for 3-D Secure
			se.threeDS = randDigits(6)
			if err := s.Mail.Send("sms:"+se.acct.Email, "3-D Secure", "Your bank code: "+se.threeDS); err != nil {
				return "Your bank could not be reached."
			}
			se.page = "3ds"
			return ""
		}
	case "3ds":
		if f("code") != se.threeDS {
			return "The bank code is not valid."
		}
		se.page = s.next("payment")
		return ""
	case "identity":
		if f("method") != "voice" || f("phone") == "" {
			return "Choose a voice call and enter a phone number."
		}
		if s.variant != MovedCaptcha && !captchaOK() {
			return "The characters you entered do not match."
		}
		se.acct.Phone = f("phone")
	case "pin":
		// The call: the callee must key in the PIN shown.
		digits, err := s.Phone.Call(se.acct.Phone)
		if err != nil || digits != se.pin {
			se.pin = ""
			return "We could not verify your phone number. A new PIN is shown; try again."
		}
		se.verified = true
	case "support":
		if f("plan") == "" {
			return "Choose a support plan."
		}
		se.acct.Support = f("plan")
		se.acct.ID = "9" + randDigits(11)
		s.accounts[se.acct.Email] = se.acct
	}
	se.page = s.next(name)
	return ""
}

// captchaFile serves a captcha as an image or as speech (espeak-ng).
func (s *Server) captchaFile(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	token, ext, _ := strings.Cut(file, ".")
	s.mu.Lock()
	answer := s.captchas[token]
	s.mu.Unlock()
	if answer == "" {
		http.NotFound(w, r)
		return
	}
	switch ext {
	case "png":
		w.Header().Set("Content-Type", "image/png")
		writeDigitsPNG(w, answer)
	case "wav":
		out, err := SpeakDigits(answer)
		if err != nil {
			http.Error(w, "no speech synthesizer", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(out)
	default:
		http.NotFound(w, r)
	}
}

var digitWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// SpeakDigits renders digits with espeak-ng, one word each, with 400 ms of
// silence between them, as one WAV.
func SpeakDigits(digits string) ([]byte, error) {
	var header []byte
	var data []byte
	for i, d := range digits {
		out, err := exec.Command("espeak-ng", "-s", "120", "--stdout", digitWords[d-'0']).Output()
		if err != nil || len(out) < 44 {
			return nil, fmt.Errorf("espeak-ng: %v", err)
		}
		if header == nil {
			header = append([]byte(nil), out[:44]...)
		}
		if i > 0 {
			data = append(data, make([]byte, 2*22050*4/10)...)
		}
		data = append(data, out[44:]...)
	}
	binary.LittleEndian.PutUint32(header[4:], uint32(36+len(data)))
	binary.LittleEndian.PutUint32(header[40:], uint32(len(data)))
	return append(header, data...), nil
}
