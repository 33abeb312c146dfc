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
// that SES stores in S3), captchas from solvers (an external command, a
// human through POST /v1/accounts/{id}/input), the verification call's PIN
// through a PhonePool, 3-D Secure codes through the same input endpoint.
// Root passwords are generated per account and kept only in a Vault.
package signup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/ovmdev/ovm"
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
	Vault    Vault
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

var _ ovm.Provider = (*Provider)(nil)

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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	saved, err := deps.Vault.Get(ctx, p.healthKey())
	switch {
	case err == nil:
		if err := deps.Phones.Import([]byte(saved)); err != nil {
			return nil, err
		}
	case !errors.Is(err, ErrNoSecret):
		return nil, fmt.Errorf("signup: reading the phone numbers' health: %w", err)
	}
	return p, nil
}

// healthKey is where the phone numbers' health is kept: the vault, which
// every replica of the pool shares (it holds no secret).
func (p *Provider) healthKey() string { return "phone-health/" + p.cfg.Pool }

// Reserve implements ovm.Provider.
func (p *Provider) Reserve(id string) (name, email string) {
	return p.cfg.NamePrefix + id, strings.ReplaceAll(p.cfg.EmailTemplate, "{id}", id)
}

// PIN is the PIN the verification call to number must key in, while one
// waits (the contact flow reads it through GET /v1/phone/{number}/pin).
func (p *Provider) PIN(number string) (string, bool) { return p.deps.Phones.PIN(number) }

// SolverStats returns how often each captcha solver answered and was right.
func (p *Provider) SolverStats() map[string]SolverStats { return p.stats.snapshot() }

// Channels implements engine.ChannelReporter: per-solver statistics and
// the health of every verification number.
func (p *Provider) Channels() map[string]any {
	return map[string]any{"captcha_solvers": p.stats.snapshot(), "phone_numbers": p.deps.Phones.Health()}
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
		_, err := p.deps.Vault.Get(ctx, "root-password/"+a.ID)
		if errors.Is(err, ErrNoSecret) {
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

// sealedURL marks a resume URL kept in the vault.
const sealedURL = "(sealed in the vault)"

// keepURL returns how the store records the page a step ended on: the URL
// itself when it has no query, else a marker, with the URL sealed in the
// vault (a query may carry a credential, such as a reset link's token).
func (r *stepRun) keepURL(ctx context.Context, u string) (string, error) {
	if !strings.ContainsAny(u, "?#") {
		return u, nil
	}
	if err := r.p.deps.Vault.Put(ctx, "browser-url/"+r.a.ID+"/"+r.section, u); err != nil {
		return "", fmt.Errorf("vault: %w", err)
	}
	return sealedURL, nil
}

// redactURL drops a URL's query and fragment, for logs.
func redactURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

// tdata is what flow templates see.
type tdata struct {
	BaseURL, Email, AccountName, Password, PhoneNumber, RoleName, TrustedPrincipal, AWSAccountID string
	Contact                                                                                      Contact
	Card                                                                                         Card
	Billing                                                                                      Billing
	Input, Var                                                                                   map[string]string
}

// runSection runs the next step of a section. It returns done when the
// section's last step has run.
func (p *Provider) runSection(ctx context.Context, a *ovm.Account, name string) (ovm.StepResult, bool, error) {
	flow, err := LoadFlow(p.cfg.FlowFile)
	if err != nil {
		return ovm.StepResult{}, false, err
	}
	sec := map[string]Section{"signup": flow.Signup, "bootstrap": flow.Bootstrap, "close": flow.Close, "reset": flow.Reset}[name]
	stepKey, urlKey := "signup."+name+".step", "signup."+name+".url"
	i, _ := strconv.Atoi(a.Progress[stepKey])
	progress := map[string]string{}
	if i >= len(sec.Steps) {
		p.closeBrowser(a.ID)
		return ovm.StepResult{Progress: progress}, true, nil
	}
	run := &stepRun{p: p, a: a, progress: progress, section: name}
	data, err := run.data()
	var waiting *errWaiting
	if errors.As(err, &waiting) {
		return ovm.StepResult{Status: ovm.StepPending, Wait: time.Minute, Reason: waiting.Error()}, false, nil
	}
	if err != nil {
		return ovm.StepResult{}, false, err
	}
	b, fresh, err := p.browserFor(a.ID)
	if err != nil {
		return ovm.StepResult{}, false, err
	}
	run.b = b
	defer run.saveSession(ctx)
	if fresh {
		// A new browser continues the sign-up session saved after the
		// last step (cookies, sealed in the vault).
		if err := run.restoreSession(ctx); err != nil {
			return ovm.StepResult{}, false, run.fail(sec.Steps[i], fmt.Errorf("restore the session: %w", err))
		}
		start := a.Progress[urlKey]
		if start == sealedURL {
			if start, err = p.deps.Vault.Get(ctx, "browser-url/"+a.ID+"/"+name); err != nil {
				return ovm.StepResult{}, false, run.fail(sec.Steps[i], fmt.Errorf("the page to resume at (vault): %w", err))
			}
		}
		if start == "" || i == 0 {
			start = run.expand(sec.StartURL, data)
		}
		run.logf("open %s", redactURL(start))
		if err := b.do(ctx, p.cfg.PageTimeout, chromedp.Navigate(start)); err != nil {
			return ovm.StepResult{}, false, run.fail(sec.Steps[i], fmt.Errorf("open %s: %w", redactURL(start), err))
		}
	}
	heading, err := b.heading(ctx)
	if err != nil {
		return ovm.StepResult{}, false, run.fail(sec.Steps[i], err)
	}
	step := sec.Steps[i]
	if heading != step.Page {
		// A later step's page: the earlier steps worked before a crash
		// kept them from being recorded.
		j := i + 1
		for ; j < len(sec.Steps) && sec.Steps[j].Page != heading; j++ {
		}
		switch {
		case j < len(sec.Steps):
			run.logf("page %q is step %s: steps %d to %d already done", heading, sec.Steps[j].Name, i, j-1)
			i, step = j, sec.Steps[j]
		case step.Optional:
			progress[stepKey] = strconv.Itoa(i + 1)
			return ovm.StepResult{Status: ovm.StepPending, Progress: progress, Reason: "skipped optional step " + step.Name}, false, nil
		default:
			return ovm.StepResult{}, false, run.fail(step, fmt.Errorf("the page shows %q, but step %s expects %q", heading, step.Name, step.Page))
		}
	}
	for _, act := range step.Actions {
		if err := run.act(ctx, act, data); err != nil {
			var w *errWaiting
			if errors.As(err, &w) {
				progress[stepKey] = strconv.Itoa(i)
				return ovm.StepResult{Status: ovm.StepPending, Progress: progress, Wait: 5 * time.Second, Reason: w.Error()}, false, nil
			}
			return ovm.StepResult{}, false, run.fail(step, err)
		}
	}
	if !step.Final {
		if err := run.waitLeave(ctx, step); err != nil {
			run.outcome(false)
			return ovm.StepResult{}, false, run.fail(step, err)
		}
		run.outcome(true)
	}
	progress[stepKey] = strconv.Itoa(i + 1)
	if progress[urlKey], err = run.keepURL(ctx, b.url(ctx)); err != nil {
		return ovm.StepResult{}, false, err
	}
	report := fmt.Sprintf("%s step %s done", name, step.Name)
	if step.Final || i+1 >= len(sec.Steps) {
		p.closeBrowser(a.ID)
		return ovm.StepResult{Progress: progress, Report: report}, true, nil
	}
	return ovm.StepResult{Status: ovm.StepPending, Progress: progress, Reason: "on step " + sec.Steps[i+1].Name, Report: report}, false, nil
}

func (p *Provider) browserFor(id string) (*browser, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.browsers[id]; b != nil {
		return b, false, nil
	}
	b, err := startBrowser(p.cfg.Chromium, filepath.Join(p.cfg.DataDir, "profiles", id))
	if err != nil {
		return nil, false, err
	}
	p.browsers[id] = b
	return b, true, nil
}

func (p *Provider) closeBrowser(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.browsers[id]; b != nil {
		b.cancel()
		delete(p.browsers, id)
	}
}

// saveSession seals the browser's cookies in the vault: a browser that
// dies (or an OVM that is killed) loses nothing of the session.
func (r *stepRun) saveSession(ctx context.Context) {
	if r.b == nil || r.b.ctx.Err() != nil {
		return
	}
	cs, err := r.b.cookies(ctx)
	if err != nil || len(cs) == 0 {
		return
	}
	b, _ := json.Marshal(cs)
	if err := r.p.deps.Vault.Put(context.Background(), "browser-session/"+r.a.ID, string(b)); err != nil {
		r.p.deps.Log.Warn("could not save the browser session", ovm.LogAccountID, r.a.ID, ovm.LogError, err)
	}
}

func (r *stepRun) restoreSession(ctx context.Context) error {
	saved, err := r.p.deps.Vault.Get(context.Background(), "browser-session/"+r.a.ID)
	if errors.Is(err, ErrNoSecret) {
		return nil
	}
	if err != nil {
		return err
	}
	var cs []*network.Cookie
	if err := json.Unmarshal([]byte(saved), &cs); err != nil {
		return err
	}
	r.logf("restored %d session cookies", len(cs))
	return r.b.setCookies(ctx, cs)
}

// stepRun is one step being run.
type stepRun struct {
	p        *Provider
	a        *ovm.Account
	b        *browser
	section  string
	progress map[string]string
	log      []string
	phone    string // number prepared in this step
	solver   string // solver that answered this step's captcha
}

func (r *stepRun) logf(format string, args ...any) {
	r.log = append(r.log, r.p.deps.Clock.Now().UTC().Format(time.RFC3339)+" "+fmt.Sprintf(format, args...))
}

// fail keeps evidence and returns the step's error naming where it is.
func (r *stepRun) fail(step Step, err error) error {
	r.logf("FAILED: %v", err)
	dir := filepath.Join(r.p.cfg.DataDir, "evidence", r.a.ID,
		fmt.Sprintf("%s-%s-%s", r.p.deps.Clock.Now().UTC().Format("20060102T150405.000"), r.section, step.Name))
	if r.b != nil {
		if eerr := r.b.evidence(dir, r.log); eerr != nil {
			r.p.deps.Log.Warn("could not keep evidence", ovm.LogAccountID, r.a.ID, ovm.LogError, eerr)
		}
	}
	// A failed step may leave the browser anywhere: the next attempt starts
	// a fresh one at the step's URL.
	r.p.closeBrowser(r.a.ID)
	where := dir
	if ec := r.p.deps.Evidence; ec != nil {
		files := map[string][]byte{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if b, rerr := os.ReadFile(filepath.Join(dir, e.Name())); rerr == nil {
				files[e.Name()] = b
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		copied, cerr := ec.Copy(ctx, r.a.ID+"/"+filepath.Base(dir), files)
		cancel()
		if cerr != nil {
			r.p.deps.Log.Warn("could not copy the evidence", ovm.LogAccountID, r.a.ID, ovm.LogError, cerr)
		} else {
			where += ", " + copied
		}
	}
	return fmt.Errorf("%s step %s: %w (evidence: %s)", r.section, step.Name, err, where)
}

func (r *stepRun) data() (tdata, error) {
	a, p := r.a, r.p
	pw, err := p.password(a.ID)
	if err != nil {
		return tdata{}, err
	}
	d := tdata{BaseURL: strings.TrimRight(p.cfg.BaseURL, "/"), Email: a.Email, AccountName: a.Name, Password: pw,
		RoleName: p.cfg.RoleName, TrustedPrincipal: p.cfg.TrustedPrincipal, AWSAccountID: a.AWSAccountID,
		Contact: p.cfg.Contact, Card: p.cfg.Card, Billing: p.cfg.Billing, Input: map[string]string{}, Var: map[string]string{}}
	for k, v := range a.Progress {
		if name, ok := strings.CutPrefix(k, "input."); ok && v != "" {
			d.Input[name] = v
		}
		if name, ok := strings.CutPrefix(k, "signup.var."); ok {
			d.Var[name] = v
		}
	}
	if r.section == "signup" && d.Var["phone"] == "" {
		n, err := p.deps.Phones.Pick(p.deps.Clock.Now())
		if err != nil {
			return tdata{}, &errWaiting{what: "a free phone number: " + err.Error()}
		}
		d.Var["phone"] = n
		r.progress["signup.var.phone"] = n
	}
	d.PhoneNumber = d.Var["phone"]
	return d, nil
}

// password is the account's root password from the vault, made on first use.
func (p *Provider) password(id string) (string, error) {
	ctx := context.Background()
	pw, err := p.deps.Vault.Get(ctx, "root-password/"+id)
	if errors.Is(err, ErrNoSecret) {
		pw = newPassword()
		if err := p.deps.Vault.Put(ctx, "root-password/"+id, pw); err != nil {
			return "", fmt.Errorf("vault: %w", err)
		}
		return pw, nil
	}
	return pw, err
}

func newPassword() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-=?@^_"
	var b strings.Builder
	for b.Len() < 28 {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String() + "a7!Z" // every class, whatever the draw
}

func (r *stepRun) expand(s string, d tdata) string {
	t, err := template.New("").Option("missingkey=zero").Parse(s)
	if err != nil {
		return s
	}
	var b bytes.Buffer
	if t.Execute(&b, d) != nil {
		return s
	}
	return b.String()
}

// waitLeave waits until the browser shows another, fully loaded page than
// the step's; an error message on the page fails the step. While the next
// document loads, the heading reads empty: only a complete document counts.
func (r *stepRun) waitLeave(ctx context.Context, step Step) error {
	deadline := r.p.deps.Clock.Now().Add(r.p.cfg.PageTimeout)
	for {
		if alert := r.b.alert(ctx); alert != "" {
			return fmt.Errorf("the page says: %s", alert)
		}
		st, err := eval[pageState](ctx, r.b, 10*time.Second,
			`({ready: document.readyState, heading: ((document.querySelector('h1')||{}).innerText||'').trim()})`)
		if err == nil && st.Ready == "complete" && st.Heading != step.Page {
			if alert := r.b.alert(ctx); alert != "" {
				return fmt.Errorf("the page says: %s", alert)
			}
			r.logf("left %q for %q", step.Page, st.Heading)
			return nil
		}
		if r.p.deps.Clock.Now().After(deadline) {
			return fmt.Errorf("still on %q after %s", step.Page, r.p.cfg.PageTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(150 * time.Millisecond):
		}
	}
}

type pageState struct {
	Ready   string `json:"ready"`
	Heading string `json:"heading"`
}

// outcome records the results of a step's captcha and phone verification.
func (r *stepRun) outcome(ok bool) {
	if r.solver != "" {
		r.p.stats.add(r.solver, func(s *SolverStats) {
			if ok {
				s.Accepted++
			}
		})
	}
	if r.phone != "" {
		if an := r.p.deps.Answerer; an != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := an.Disarm(ctx, r.phone); err != nil {
				// The next Arm rewrites the flow anyway; a stale flow
				// only answers a call nobody makes.
				r.p.deps.Log.Warn("disarming the verification number failed", ovm.LogAccountID, r.a.ID, "number", r.phone, ovm.LogError, err)
			}
			cancel()
		}
		r.p.deps.Phones.Done(r.phone, ok, r.p.deps.Clock.Now())
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := r.p.deps.Vault.Put(ctx, r.p.healthKey(), string(r.p.deps.Phones.Export())); err != nil {
			r.p.deps.Log.Warn("could not keep the phone numbers' health", ovm.LogError, err)
		}
		cancel()
	}
}
