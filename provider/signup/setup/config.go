// Package setup is the signup provider kind: a pool's `signup:` block (its
// defaults and validation, errors naming the key) and how the binary builds
// the pool's provider from it: secrets resolved from the vault, the captcha
// solvers, the inbox (S3 or IMAP), the Amazon Connect answerer, the smoke
// test and the burial into the graveyard organization. It lives beside
// provider/signup because it wires the channel packages, which import it.
package setup

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider"
	"github.com/ovmdev/ovm/provider/awsorgs"
	"github.com/ovmdev/ovm/provider/signup"
	"github.com/ovmdev/ovm/provider/signup/awsconnect"
)

// Kind is the signup provider kind for the binary's registry.
type Kind struct{}

// NewConfig implements provider.Kind.
func (Kind) NewConfig() provider.Config {
	return &PoolConfig{Signup: Config{SmokeTest: true}}
}

// PoolConfig is a signup pool's configuration.
type PoolConfig struct {
	Signup Config
}

// GuardsTheVendedRole implements provider.RoleGuarded: a management
// account's guardrails are a boundary and an inline deny on its vended
// role (package roleaccess).
func (c *PoolConfig) GuardsTheVendedRole() {}

// Blocks implements provider.Config.
func (c *PoolConfig) Blocks() map[string]any { return map[string]any{"signup": &c.Signup} }

// New implements provider.Config.
func (c *PoolConfig) New(ctx context.Context, env provider.Env) (ovm.Provider, error) {
	p, err := build(ctx, env, c.Signup)
	if err != nil {
		return nil, err
	}
	env.OnShutdown(p.Shutdown)
	ac, err := env.AWS(ctx)
	if err != nil {
		return nil, err
	}
	home := env.AWSRegion
	if home == "" {
		home = "us-east-1"
	}
	return withAccess{Provider: p, Direct: access(ac, env, c.Signup),
		spend: &spendSetup{ac: ac, clients: awsorgs.NewClients(ac), bus: env.SpendBus, home: home, path: env.AWSEndpoint != ""}}, nil
}

// Complete implements provider.Config: sign-ups go one at a time and two
// hours apart unless the pool says otherwise (phone numbers get blocked
// when used faster).
func (c *PoolConfig) Complete(p *provider.Pool, _ provider.Settings) error {
	if !p.MinSpacingSet {
		p.Stock.MinSpacing = 2 * time.Hour
	}
	if err := provider.MaxInFlight(p, 0, 1, ""); err != nil {
		return err
	}
	bad := func(key, format string, args ...any) error {
		return &ovm.FieldError{Field: key, Message: fmt.Sprintf(format, args...)}
	}
	key := ""
	sc := c.Signup
	switch {
	case sc.BaseURL == "":
		return bad(key+"signup.base_url", "is required")
	case !strings.Contains(sc.EmailTemplate, "{id}"):
		return bad(key+"signup.email_template", "must contain {id}")
	case sc.TrustedPrincipal == "":
		return bad(key+"signup.trusted_principal", "is required (the ARN the vended role trusts)")
	case len(sc.PhoneNumbers) == 0:
		return bad(key+"signup.phone_numbers", "at least one verification number is required")
	case (sc.Inbox.S3Bucket == "") == (sc.Inbox.IMAP == nil):
		return bad(key+"signup.inbox", "set exactly one of s3_bucket (SES stores received mail there) or imap")
	}
	if cc := sc.Connect; cc != nil {
		if _, err := awsconnect.InstanceID(cc.InstanceARN); err != nil {
			return bad(key+"signup.connect.instance_arn", "%q is not a Connect instance ARN (arn:aws:connect:REGION:ACCOUNT:instance/ID)", cc.InstanceARN)
		}
		if cc.PromptBucket == "" {
			return bad(key+"signup.connect.prompt_bucket", "is required (Connect reads the prompts from it)")
		}
		if cc.AnswerDelay < 0 || cc.AnswerDelay > time.Minute {
			return bad(key+"signup.connect.answer_delay", "must be between 0 and 1m")
		}
	}
	if m := sc.Inbox.IMAP; m != nil {
		ik := key + "signup.inbox.imap."
		host, _, err := net.SplitHostPort(m.Address)
		switch {
		case err != nil:
			return bad(ik+"address", "%q is not host:port", m.Address)
		case m.Username == "":
			return bad(ik+"username", "is required")
		case m.Password == "":
			return bad(ik+"password", "is required (use secret:NAME)")
		case m.Security != "" && m.Security != "tls" && m.Security != "starttls" && m.Security != "none":
			return bad(ik+"security", "%q must be tls, starttls or none", m.Security)
		case m.Security == "none" && !isLoopback(host):
			return bad(ik+"security", "none sends the password in clear: only for a server on loopback, not %s", host)
		}
	}
	for j, sv := range sc.CaptchaSolvers {
		sk := fmt.Sprintf("%ssignup.captcha_solvers[%d]", key, j)
		switch {
		case sv.kinds() != 1:
			return bad(sk, "set exactly one of command, human, transcribe or twocaptcha")
		case sv.Transcribe != nil && sv.Transcribe.Bucket == "":
			return bad(sk+".transcribe.bucket", "is required (Transcribe reads the audio from it)")
		case sv.TwoCaptcha != nil && !strings.HasPrefix(sv.TwoCaptcha.URL, "http"):
			return bad(sk+".twocaptcha.url", "%q is not an http(s) URL", sv.TwoCaptcha.URL)
		case sv.TwoCaptcha != nil && sv.TwoCaptcha.Key == "":
			return bad(sk+".twocaptcha.key", "is required (use secret:NAME)")
		}
		for _, k := range sv.For {
			if k != "audio" && k != "image" {
				return bad(sk+".for", "%q must be audio or image", k)
			}
		}
	}
	if _, err := signup.LoadFlow(sc.FlowFile); err != nil {
		return bad(key+"signup.flow_file", "%v", err)
	}
	return nil
}

// Config is a pool's `signup:` block. Contact and card values may
// be "secret:NAME", read from the secrets vault at start.
type Config struct {
	BaseURL          string        `yaml:"base_url"`          // the sign-up site (required)
	FlowFile         string        `yaml:"flow_file"`         // default: the shipped flow
	Chromium         string        `yaml:"chromium"`          // default /usr/bin/chromium
	EmailTemplate    string        `yaml:"email_template"`    // root e-mail; {id} = OVM id (required)
	NamePrefix       string        `yaml:"name_prefix"`       // default ovm-
	TrustedPrincipal string        `yaml:"trusted_principal"` // ARN the vended role trusts (required)
	Contact          Contact       `yaml:"contact"`
	Card             Card          `yaml:"card"`
	Billing          Billing       `yaml:"billing"`
	PhoneNumbers     []string      `yaml:"phone_numbers"` // verification numbers (required)
	Inbox            Inbox         `yaml:"inbox"`
	CaptchaSolvers   []Solver      `yaml:"captcha_solvers"` // tried in order (default: human)
	PageTimeout      time.Duration `yaml:"page_timeout"`    // default 30s
	SmokeTest        bool          `yaml:"smoke_test"`      // assume the vended role before ready (default true)
	Burial           Burial        `yaml:"burial"`
	Connect          *Connect      `yaml:"connect"` // answer the verification call with Amazon Connect
	Evidence         Evidence      `yaml:"evidence"`
}

// Evidence copies failed steps' evidence to S3 as well (useful with
// several replicas: the local copy is on the replica that ran the step).
type Evidence struct {
	S3Bucket string `yaml:"s3_bucket"` // "" = local only
	S3Prefix string `yaml:"s3_prefix"` // default evidence/
}

// Connect sets up Amazon Connect to key in the verification PIN:
// OVM makes the DTMF prompts and one contact flow per phone number.
type Connect struct {
	InstanceARN  string        `yaml:"instance_arn"`  // arn:aws:connect:REGION:ACCOUNT:instance/ID (required)
	PromptBucket string        `yaml:"prompt_bucket"` // S3 bucket Connect reads the prompt WAVs from (required)
	PromptPrefix string        `yaml:"prompt_prefix"` // default ovm-prompts/
	AnswerDelay  time.Duration `yaml:"answer_delay"`  // silence before the first tone (default 3s)
}

// Burial retires vended management accounts through the API into
// OVM's graveyard organization (the organization of OVM's AWS credentials).
type Burial struct {
	Enabled     bool   `yaml:"enabled"`      // default false: console closure by the root user
	GraveyardOU string `yaml:"graveyard_ou"` // OU for buried accounts ("" = root)
	CloseQuota  int    `yaml:"close_quota"`  // the graveyard's closures per 30 days (default 10)
}

// Contact is the contact page's data.
type Contact struct {
	FullName   string `yaml:"full_name"`
	Company    string `yaml:"company"`
	Phone      string `yaml:"phone"`
	Country    string `yaml:"country"`
	Address    string `yaml:"address"`
	City       string `yaml:"city"`
	State      string `yaml:"state"`
	PostalCode string `yaml:"postal_code"`
}

// Card is the payment page's data (use secret: references).
type Card struct {
	Number string `yaml:"number"`
	Month  string `yaml:"month"`
	Year   string `yaml:"year"`
	Holder string `yaml:"holder"`
}

// Billing is the console's billing preferences.
type Billing struct {
	Currency string `yaml:"currency"`
	Email    string `yaml:"email"`
}

// Inbox is where the sign-up e-mails arrive: the S3 bucket of an SES
// receipt rule, or an IMAP mailbox. Set exactly one.
type Inbox struct {
	S3Bucket string `yaml:"s3_bucket"`
	S3Prefix string `yaml:"s3_prefix"`
	IMAP     *IMAP  `yaml:"imap"`
}

// IMAP is an IMAP mailbox.
type IMAP struct {
	Address  string `yaml:"address"`  // host:port (required)
	Username string `yaml:"username"` // (required)
	Password string `yaml:"password"` // use secret:NAME (required)
	Mailbox  string `yaml:"mailbox"`  // default INBOX
	Security string `yaml:"security"` // tls (default) | starttls | none (loopback only)
}

// Solver is one captcha solver: set exactly one of command, human,
// transcribe or twocaptcha.
type Solver struct {
	Command    []string          `yaml:"command"` // gets the file as its last argument, prints the answer
	For        []string          `yaml:"for"`     // audio, image (default: what the solver can do)
	Human      bool              `yaml:"human"`
	Transcribe *TranscribeSolver `yaml:"transcribe"` // audio, through Amazon Transcribe
	TwoCaptcha *TwoCaptchaSolver `yaml:"twocaptcha"` // a 2captcha-compatible service
}

// TranscribeSolver solves audio captchas with Amazon Transcribe.
type TranscribeSolver struct {
	Bucket   string `yaml:"bucket"`   // S3 bucket for the audio and the transcript (required)
	Prefix   string `yaml:"prefix"`   // default ovm-captcha/
	Language string `yaml:"language"` // default en-US
}

// TwoCaptchaSolver is a service speaking the 2captcha API.
type TwoCaptchaSolver struct {
	URL string `yaml:"url"` // e.g. https://2captcha.com (required)
	Key string `yaml:"key"` // account key: use secret:NAME
}

// kinds is how many solver kinds the entry sets.
func (s Solver) kinds() int {
	n := 0
	for _, set := range []bool{len(s.Command) > 0, s.Human, s.Transcribe != nil, s.TwoCaptcha != nil} {
		if set {
			n++
		}
	}
	return n
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}
