package signup

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"regexp"
	"text/template"

	"gopkg.in/yaml.v3"
)

// DefaultFlow is the flow file shipped with OVM (flows/aws-2023.yaml). An
// operator overrides it with signup.flow_file when AWS changes a page.
//
//go:embed flows/aws-2023.yaml
var DefaultFlow []byte

// Flow is a versioned description of the sign-up and console pages: data,
// not code.
type Flow struct {
	Version int    `yaml:"version"`
	Name    string `yaml:"name"`
	// Signup makes the account; its result is the account id.
	Signup Section `yaml:"signup"`
	// Bootstrap runs in the console after sign-up (billing preferences,
	// the cross-account role stack).
	Bootstrap Section `yaml:"bootstrap"`
	// Close is the console closure, the fallback of the API burial.
	Close Section `yaml:"close"`
	// Reset sets a new root password through the e-mailed reset link; it
	// runs before Close when the vault has no password for the account.
	Reset Section `yaml:"reset"`
}

// Section is a sequence of pages.
type Section struct {
	StartURL string `yaml:"start_url"`
	Steps    []Step `yaml:"steps"`
}

// Step is one page: where we must be, what to do there.
type Step struct {
	Name string `yaml:"name"`
	// Page is the page's heading (h1): it tells where the browser is.
	Page string `yaml:"page"`
	// Optional steps are skipped when their page is not shown.
	Optional bool     `yaml:"optional"`
	Actions  []Action `yaml:"actions"`
	// Final marks the last page: nothing is submitted, it is only read.
	Final bool `yaml:"final"`
}

// Action is one thing done on a page. Exactly one field is set.
type Action struct {
	// Fill types Value into the field with this accessible label.
	Fill *FillAction `yaml:"fill"`
	// Select chooses an option of a native select by its label.
	Select *FillAction `yaml:"select"`
	// Combobox types into an ARIA combobox and clicks the matching option.
	Combobox *FillAction `yaml:"combobox"`
	// Check ticks the checkbox or radio button with this label.
	Check *Target `yaml:"check"`
	// Click clicks the element with this role and name.
	Click *Target `yaml:"click"`
	// Navigate opens a URL (templated).
	Navigate string `yaml:"navigate"`
	// Read extracts Pattern's first group from the page text into a variable.
	Read *ReadAction `yaml:"read"`
	// Input waits for an outside value (e-mail code, 3-D Secure code, a
	// human's answer) and stores it under Name.
	Input *InputAction `yaml:"input"`
	// Captcha solves a captcha if one is shown.
	Captcha *CaptchaAction `yaml:"captcha"`
	// PhonePIN hands the shown PIN to the phone channel for Number.
	PhonePIN *PhoneAction `yaml:"phone_pin"`
}

// Target finds an element by role and accessible name, or by label.
type Target struct {
	Role  string `yaml:"role"`
	Name  string `yaml:"name"`
	Label string `yaml:"label"`
}

// FillAction puts Value into the field labelled Label.
type FillAction struct {
	Label string `yaml:"label"`
	Value string `yaml:"value"`
}

// ReadAction reads a variable from the page text.
type ReadAction struct {
	Pattern string `yaml:"pattern"`
	Var     string `yaml:"var"`
}

// InputAction waits for an outside value.
type InputAction struct {
	Name string `yaml:"name"`
	// From is email (the inbox), or input (POST /v1/accounts/{id}/input:
	// a human, or the 3-D Secure relay).
	From string `yaml:"from"`
	// Pattern extracts the value from an e-mail (first group).
	Pattern string `yaml:"pattern"`
	// To is the e-mail's recipient (templated; default the account's).
	To string `yaml:"to"`
}

// CaptchaAction solves the captcha of a page, if it has one.
type CaptchaAction struct {
	// Image is the alt text of the captcha image; Audio the name of the
	// link to its audio version; Answer the label of the answer field.
	Image  string `yaml:"image"`
	Audio  string `yaml:"audio"`
	Answer string `yaml:"answer"`
}

// PhoneAction hands a PIN to the phone channel.
type PhoneAction struct {
	Number string `yaml:"number"`
	PIN    string `yaml:"pin"`
}

// ParseFlow reads and checks a flow file.
func ParseFlow(data []byte) (*Flow, error) {
	var f Flow
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("flow: version %d is not supported (1 is)", f.Version)
	}
	for _, sec := range []struct {
		name string
		s    Section
	}{{"signup", f.Signup}, {"bootstrap", f.Bootstrap}, {"close", f.Close}, {"reset", f.Reset}} {
		if len(sec.s.Steps) == 0 {
			continue
		}
		if _, err := template.New("").Parse(sec.s.StartURL); err != nil || sec.s.StartURL == "" {
			return nil, fmt.Errorf("flow: %s.start_url: %v", sec.name, err)
		}
		for i, st := range sec.s.Steps {
			where := fmt.Sprintf("%s.steps[%d] (%s)", sec.name, i, st.Name)
			if st.Name == "" || st.Page == "" {
				return nil, fmt.Errorf("flow: %s: needs a name and a page", where)
			}
			for j, a := range st.Actions {
				if n := a.count(); n != 1 {
					return nil, fmt.Errorf("flow: %s.actions[%d]: exactly one action per entry, got %d", where, j, n)
				}
				if a.Read != nil {
					if _, err := regexp.Compile(a.Read.Pattern); err != nil {
						return nil, fmt.Errorf("flow: %s.actions[%d].read.pattern: %w", where, j, err)
					}
				}
				if a.Input != nil && a.Input.From != "email" && a.Input.From != "input" {
					return nil, fmt.Errorf("flow: %s.actions[%d].input.from: %q must be email or input", where, j, a.Input.From)
				}
			}
		}
	}
	if len(f.Signup.Steps) == 0 {
		return nil, fmt.Errorf("flow: signup has no steps")
	}
	return &f, nil
}

func (a Action) count() int {
	n := 0
	for _, set := range []bool{a.Fill != nil, a.Select != nil, a.Combobox != nil, a.Check != nil, a.Click != nil,
		a.Navigate != "", a.Read != nil, a.Input != nil, a.Captcha != nil, a.PhonePIN != nil} {
		if set {
			n++
		}
	}
	return n
}

// LoadFlow reads the flow file at path, or the default when path is "".
func LoadFlow(path string) (*Flow, error) {
	if path == "" {
		return ParseFlow(DefaultFlow)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("flow: %w", err)
	}
	return ParseFlow(data)
}
