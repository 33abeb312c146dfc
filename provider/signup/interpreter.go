package signup

// This file is the step interpreter: runSection runs the next step of a
// flow section in the account's browser. It checks which page the browser
// shows, does the step's actions (actions.go), waits for the page to
// change, and records where the section stands; a failed step keeps its
// evidence.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ovmdev/ovm"
)

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
	data, err := run.data(ctx)
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
			return ovm.StepResult{}, false, run.fail(ctx, sec.Steps[i], fmt.Errorf("restore the session: %w", err))
		}
		start, err := run.resumeURL(ctx, a.Progress[urlKey])
		if err != nil {
			return ovm.StepResult{}, false, run.fail(ctx, sec.Steps[i], fmt.Errorf("the page to resume at (vault): %w", err))
		}
		if start == "" || i == 0 {
			start = run.expand(sec.StartURL, data)
		}
		run.logf("open %s", redactURL(start))
		if err := b.do(ctx, p.cfg.PageTimeout, chromedp.Navigate(start)); err != nil {
			return ovm.StepResult{}, false, run.fail(ctx, sec.Steps[i], fmt.Errorf("open %s: %w", redactURL(start), err))
		}
	}
	heading, err := b.heading(ctx)
	if err != nil {
		return ovm.StepResult{}, false, run.fail(ctx, sec.Steps[i], err)
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
			return ovm.StepResult{}, false, run.fail(ctx, step, fmt.Errorf("the page shows %q, but step %s expects %q", heading, step.Name, step.Page))
		}
	}
	for _, act := range step.Actions {
		if err := run.act(ctx, act, data); err != nil {
			var w *errWaiting
			if errors.As(err, &w) {
				progress[stepKey] = strconv.Itoa(i)
				return ovm.StepResult{Status: ovm.StepPending, Progress: progress, Wait: 5 * time.Second, Reason: w.Error()}, false, nil
			}
			return ovm.StepResult{}, false, run.fail(ctx, step, err)
		}
	}
	if !step.Final {
		if err := run.waitLeave(ctx, step); err != nil {
			run.outcome(ctx, false)
			return ovm.StepResult{}, false, run.fail(ctx, step, err)
		}
		run.outcome(ctx, true)
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
// The evidence is kept even when the step failed because ctx ended (the
// engine's step timeout): that work runs on context.WithoutCancel(ctx),
// bounded by timeouts of its own.
func (r *stepRun) fail(ctx context.Context, step Step, err error) error {
	keep := context.WithoutCancel(ctx)
	r.logf("FAILED: %v", err)
	dir := filepath.Join(r.p.cfg.DataDir, "evidence", r.a.ID,
		fmt.Sprintf("%s-%s-%s", r.p.deps.Clock.Now().UTC().Format("20060102T150405.000"), r.section, step.Name))
	if r.b != nil {
		if eerr := r.b.evidence(keep, dir, r.log); eerr != nil {
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
		cctx, cancel := context.WithTimeout(keep, time.Minute)
		copied, cerr := ec.Copy(cctx, r.a.ID+"/"+filepath.Base(dir), files)
		cancel()
		if cerr != nil {
			r.p.deps.Log.Warn("could not copy the evidence", ovm.LogAccountID, r.a.ID, ovm.LogError, cerr)
		} else {
			where += ", " + copied
		}
	}
	return fmt.Errorf("%s step %s: %w (evidence: %s)", r.section, step.Name, err, where)
}

// data is what the step's templates see: the configuration, the account,
// its root password, its inputs and the variables read so far. A sign-up
// without a verification number picks one here.
func (r *stepRun) data(ctx context.Context) (tdata, error) {
	a, p := r.a, r.p
	pw, err := p.password(ctx, a.ID)
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

// expand fills a flow template with d; a template that does not parse or
// run is used as it is.
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
//
// The wait is real time, not the injected clock: it is Chromium that loads
// the page, and a test's manual clock would never end the wait. A timer
// bounds it at PageTimeout, and the page is polled every 150ms.
func (r *stepRun) waitLeave(ctx context.Context, step Step) error {
	deadline := time.NewTimer(r.p.cfg.PageTimeout)
	defer deadline.Stop()
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
		select {
		case <-deadline.C:
			return fmt.Errorf("still on %q after %s", step.Page, r.p.cfg.PageTimeout)
		default:
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
