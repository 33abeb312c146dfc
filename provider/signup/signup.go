// Package signup is the `signup` provider: standalone AWS accounts (that
// can become the management account of their own Organization) made through
// the public sign-up in a real Chromium, driven by a flow file.
//
// The flow is data (Flow, flows/aws-2023.yaml): which page, which fields by
// accessible label or role and name, what proves the step worked. It is read
// again at every step, so an operator repairs the automation when AWS changes
// a page by editing the file, without a release. Each call of Create,
// Bootstrap or Close runs one step; the step reached, the page's URL and the
// values read so far are stored on the account, and the browser profile is
// kept on disk, so a crash or a failed step resumes at that step. A step
// first checks which page the browser shows: a step that worked but was not
// recorded is skipped, not repeated. Every failure keeps a screenshot, the
// page's HTML and the step's log as evidence, named in the error that goes to
// the account's event log.
//
// Outside values come through channels: one-time codes from an Inbox (mail
// that SES stores in S3, see s3bucket, or an IMAP mailbox, see imapinbox),
// captchas from solvers (an external command, a human through
// POST /v1/accounts/{id}/input), the verification call's PIN through a
// PhonePool, 3-D Secure codes through the same input endpoint. Root
// passwords are generated per account and kept only in the vault (package
// vault).
//
// The files: signup.go is the provider's surface (New and the methods the
// engine calls); interpreter.go runs a section's next step and actions.go
// its actions, in the browser of browser.go; session.go seals the browser
// session and resume URLs in the vault; password.go makes root passwords;
// channels.go holds the captcha solvers and the phone pool, and
// bookkeeping.go what the provider records about them; flow.go reads the
// flow file; inbox.go declares the inbox.
package signup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/vault"
)

// Contact is the contact page's data.
type Contact struct {
	FullName, Company, Phone, Country, Address, City, State, PostalCode string
}

// Card is the payment page's data.
type Card struct {
	Number, Month, Year, Holder string
}

// Billing is the console's billing preferences.
type Billing struct {
	Currency, Email string
}

// Config is one signup pool. Card and contact data come from secrets in
// the configuration (cmd/ovm resolves them); they never reach a log.
type Config struct {
	Pool string
	// BaseURL is the sign-up site the flow's URLs start with.
	BaseURL string
	// FlowFile overrides the shipped flow (read at every step).
	FlowFile string
	// Chromium is the browser (default /usr/bin/chromium).
	Chromium string
	// DataDir keeps browser profiles and evidence.
	DataDir string
	// EmailTemplate makes the root e-mail; {id} is the OVM account id.
	EmailTemplate string
	// NamePrefix prefixes the account name (default "ovm-").
	NamePrefix string
	// RoleName is the vended role the stack creates; TrustedPrincipal the
	// ARN it trusts.
	RoleName, TrustedPrincipal string
	Contact                    Contact
	Card                       Card
	Billing                    Billing
	// PageTimeout bounds waiting for a page to change (default 30s).
	PageTimeout time.Duration
}

// Deps are the provider's channels.
type Deps struct {
	Inbox   Inbox
	Solvers []CaptchaSolver
	Phones  *PhonePool
	// Answerer, when set, is armed with the PIN before the page asks AWS
	// to call, and disarmed after.
	Answerer PhoneAnswerer
	Vault    vault.Vault
	// SmokeTest assumes roleARN and returns the account it lands in; nil
	// skips the smoke test.
	SmokeTest func(ctx context.Context, roleARN string) (string, error)
	// Bury retires an account through its cross-account role; nil closes
	// it in the console.
	Bury func(ctx context.Context, a *ovm.Account) (ovm.StepResult, error)
	// Evidence, when set, also keeps failed steps' evidence there (S3).
	Evidence EvidenceCopy
	// Graveyard reports the burial's close quota and ledger (the
	// graveyard organization's); nil when there is no burial.
	Graveyard interface {
		ovm.QuotaReporter
		RecentCloses(ctx context.Context) ([]*ovm.CloseEntry, error)
	}
	Clock ovm.Clock
	Log   *slog.Logger
}

// Provider implements ovm.Provider with the browser.
type Provider struct {
	cfg   Config
	deps  Deps
	stats stats

	mu       sync.Mutex
	browsers map[string]*browser
}

var (
	_ ovm.Provider        = (*Provider)(nil)
	_ ovm.QuotaReporter   = (*Provider)(nil)
	_ ovm.CloseLister     = (*Provider)(nil)
	_ ovm.ChannelReporter = (*Provider)(nil)
	_ ovm.PINSource       = (*Provider)(nil)
	_ ovm.EvidenceKeeper  = (*Provider)(nil)
)

// New returns a provider, checking that the flow file parses.
func New(cfg Config, deps Deps) (*Provider, error) {
	if cfg.Chromium == "" {
		cfg.Chromium = "/usr/bin/chromium"
	}
	if cfg.NamePrefix == "" {
		cfg.NamePrefix = "ovm-"
	}
	if cfg.RoleName == "" {
		cfg.RoleName = ovm.DefaultRoleName
	}
	if cfg.PageTimeout == 0 {
		cfg.PageTimeout = 30 * time.Second
	}
	if !strings.Contains(cfg.EmailTemplate, "{id}") || !strings.Contains(cfg.EmailTemplate, "@") {
		return nil, &ovm.FieldError{Field: "signup.email_template", Message: "must be an e-mail address containing {id}"}
	}
	if _, err := url.ParseRequestURI(cfg.BaseURL); err != nil {
		return nil, &ovm.FieldError{Field: "signup.base_url", Message: "is not a URL"}
	}
	if _, err := LoadFlow(cfg.FlowFile); err != nil {
		return nil, &ovm.FieldError{Field: "signup.flow_file", Message: err.Error()}
	}
	if deps.Vault == nil || deps.Phones == nil || deps.Inbox == nil {
		return nil, errors.New("signup: a vault, a phone pool and an inbox are required")
	}
	if deps.Clock == nil {
		deps.Clock = ovm.SystemClock()
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	p := &Provider{cfg: cfg, deps: deps, browsers: map[string]*browser{}}
	// New has no caller's context; reading the numbers' health gets a
	// bounded one of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.loadPhoneHealth(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Reserve implements ovm.Provider.
func (p *Provider) Reserve(id string) (name, email string) {
	return p.cfg.NamePrefix + id, strings.ReplaceAll(p.cfg.EmailTemplate, "{id}", id)
}

// CloseQuota implements ovm.QuotaReporter: the graveyard's quota when
// accounts are buried, none otherwise (the console closes without one).
func (p *Provider) CloseQuota(ctx context.Context) (ovm.Quota, error) {
	if p.deps.Graveyard == nil {
		return ovm.Quota{}, nil
	}
	return p.deps.Graveyard.CloseQuota(ctx)
}

// RecentCloses lists the graveyard's closures of the quota window.
func (p *Provider) RecentCloses(ctx context.Context) ([]*ovm.CloseEntry, error) {
	if p.deps.Graveyard == nil {
		return nil, nil
	}
	return p.deps.Graveyard.RecentCloses(ctx)
}

// Shutdown closes every browser (their profiles stay for resuming).
func (p *Provider) Shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, b := range p.browsers {
		b.cancel()
		delete(p.browsers, id)
	}
}

// Create implements ovm.Provider: the sign-up, one page per call.
func (p *Provider) Create(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	if a.ExternalRef == "" {
		// The reference of a sign-up is the account's browser session.
		return ovm.StepResult{Status: ovm.StepPending, ExternalRef: "signup:" + a.ID, Reason: "sign-up starting"}, nil
	}
	r, done, err := p.runSection(ctx, a, "signup")
	if err != nil || !done {
		return r, err
	}
	id := r.Progress["signup.var.account_id"]
	if !ovm.IsAWSAccountID(id) {
		return ovm.StepResult{}, fmt.Errorf("the sign-up ended without an account id (read %q)", id)
	}
	r.Status, r.AWSAccountID = ovm.StepDone, id
	return r, nil
}

// Bootstrap implements ovm.Provider: billing preferences and the role stack
// in the console, then the smoke test.
func (p *Provider) Bootstrap(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	r, done, err := p.runSection(ctx, a, "bootstrap")
	if err != nil || !done {
		return r, err
	}
	role := ovm.RoleARN(a.AWSAccountID, p.cfg.RoleName)
	if p.deps.SmokeTest != nil {
		got, err := p.deps.SmokeTest(ctx, role)
		if err != nil {
			return ovm.StepResult{}, fmt.Errorf("smoke test: %w", err)
		}
		if got != a.AWSAccountID {
			return ovm.Failed(fmt.Sprintf("smoke test: %s landed in %s", role, got)), nil
		}
	}
	r.Status, r.RoleARN = ovm.StepDone, role
	return r, nil
}

// Close implements ovm.Provider: the API burial when configured, else the
// console closure. Done only when the closure is observed.
func (p *Provider) Close(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
	if p.deps.Bury != nil && a.Progress["burial.fallback"] == "" {
		r, err := p.deps.Bury(ctx, a)
		if err != nil || r.Status != ovm.StepFailed {
			return r, err
		}
		// The API cannot bury it (e.g. it joined someone else's
		// organization): the root user closes it in the console.
		p.deps.Log.Warn("burial failed; closing in the console", ovm.LogAccountID, a.ID, "reason", r.Reason)
		return ovm.StepResult{Status: ovm.StepPending, Reason: "burial failed: " + r.Reason + "; closing in the console",
			Report: "burial failed: " + r.Reason, Progress: map[string]string{"burial.fallback": "console"}}, nil
	}
	if a.Progress["signup.reset"] == "" && a.Progress["signup.close.step"] == "" {
		// The root user needs the password; without it (a vault lost or
		// restored from an old backup), it is reset by e-mail first.
		_, err := p.deps.Vault.Get(ctx, passwordKey(a.ID))
		if errors.Is(err, vault.ErrNoSecret) {
			flow, ferr := LoadFlow(p.cfg.FlowFile)
			if ferr != nil {
				return ovm.StepResult{}, ferr
			}
			if len(flow.Reset.Steps) == 0 {
				return ovm.Failed("the root password is not in the vault, and the flow file has no reset section to reset it by e-mail"), nil
			}
			const why = "the root password is not in the vault: resetting it by e-mail"
			return ovm.StepResult{Status: ovm.StepPending, Reason: why, Report: why, Progress: map[string]string{"signup.reset": "needed"}}, nil
		}
		if err != nil {
			return ovm.StepResult{}, fmt.Errorf("vault: %w", err)
		}
	}
	if a.Progress["signup.reset"] == "needed" {
		r, done, err := p.runSection(ctx, a, "reset")
		if err != nil || !done {
			return r, err
		}
		r.Status, r.Reason, r.Report = ovm.StepPending, "root password reset by e-mail", "root password reset by e-mail"
		r.Progress["signup.reset"] = "done"
		return r, nil
	}
	r, done, err := p.runSection(ctx, a, "close")
	if err != nil || !done {
		return r, err
	}
	r.Status = ovm.StepDone
	return r, nil
}
