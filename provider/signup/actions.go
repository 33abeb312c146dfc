package signup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// act runs one action of a step.
func (r *stepRun) act(ctx context.Context, a Action, d tdata) error {
	b, timeout := r.b, r.p.cfg.PageTimeout
	switch {
	case a.Fill != nil:
		sel, err := b.locate(ctx, Target{Label: a.Fill.Label})
		if err != nil {
			return err
		}
		r.logf("fill %q", a.Fill.Label) // never the value: it may be secret
		return r.typeInto(ctx, sel, r.expand(a.Fill.Value, d))
	case a.Select != nil:
		sel, err := b.locate(ctx, Target{Label: a.Select.Label})
		if err != nil {
			return err
		}
		v := r.expand(a.Select.Value, d)
		r.logf("select %q = %q", a.Select.Label, v)
		ok, err := eval[bool](ctx, b, timeout, fmt.Sprintf(`(function(){const s=document.querySelector(%q);
		  for (const o of s.options) if (o.value===%q||o.text.trim()===%q) { s.value=o.value; s.dispatchEvent(new Event('change',{bubbles:true})); return true }
		  return false })()`, sel, v, v))
		if err == nil && !ok {
			err = fmt.Errorf("select %q has no option %q", a.Select.Label, v)
		}
		return err
	case a.Combobox != nil:
		sel, err := b.locate(ctx, Target{Label: a.Combobox.Label})
		if err != nil {
			return err
		}
		v := r.expand(a.Combobox.Value, d)
		r.logf("combobox %q = %q", a.Combobox.Label, v)
		if err := b.do(ctx, timeout, chromedp.Click(chromedp.CSS(sel))); err != nil {
			return err
		}
		if err := r.typeInto(ctx, sel, v); err != nil {
			return err
		}
		opt, err := b.locate(ctx, Target{Role: "option", Name: v})
		if err != nil {
			return fmt.Errorf("combobox %q: %w", a.Combobox.Label, err)
		}
		return b.do(ctx, timeout, chromedp.Click(chromedp.CSS(opt)))
	case a.Check != nil:
		sel, err := b.locate(ctx, *a.Check)
		if err != nil {
			return err
		}
		r.logf("check %q", a.Check.Label+a.Check.Name)
		checked, err := eval[bool](ctx, b, timeout, fmt.Sprintf(`!!document.querySelector(%q).checked`, sel))
		if err != nil || checked {
			return err
		}
		return b.do(ctx, timeout, chromedp.Click(chromedp.CSS(sel)))
	case a.Click != nil:
		sel, err := b.locate(ctx, *a.Click)
		if err != nil {
			return err
		}
		r.logf("click %s %q", a.Click.Role, a.Click.Name)
		return b.do(ctx, timeout, chromedp.Click(chromedp.CSS(sel)))
	case a.Navigate != "":
		u := r.expand(a.Navigate, d)
		r.logf("navigate %s", redactURL(u))
		return b.do(ctx, timeout, chromedp.Navigate(u))
	case a.Read != nil:
		text, err := b.text(ctx)
		if err != nil {
			return err
		}
		m := regexp.MustCompile(a.Read.Pattern).FindStringSubmatch(text)
		if len(m) < 2 {
			return fmt.Errorf("read %s: %q not on the page", a.Read.Var, a.Read.Pattern)
		}
		r.logf("read %s", a.Read.Var)
		r.progress["signup.var."+a.Read.Var] = m[1]
		d.Var[a.Read.Var] = m[1]
		return nil
	case a.Input != nil:
		return r.input(ctx, *a.Input, d)
	case a.Captcha != nil:
		return r.captcha(ctx, *a.Captcha, d)
	case a.PhonePIN != nil:
		number, pin := r.expand(a.PhonePIN.Number, d), r.expand(a.PhonePIN.PIN, d)
		if number == "" || pin == "" {
			return fmt.Errorf("phone_pin needs a number and a PIN")
		}
		if err := r.p.deps.Phones.Prepare(number, pin, r.p.deps.Clock.Now()); err != nil {
			return &errWaiting{what: err.Error()}
		}
		r.phone = number
		if an := r.p.deps.Answerer; an != nil {
			if err := an.Arm(ctx, number, pin); err != nil {
				return fmt.Errorf("arm the verification number: %w", err)
			}
		}
		r.logf("phone %s answers the next call with the PIN", number)
		return nil
	}
	return errors.New("empty action")
}

// input gets an outside value into d.Input.
func (r *stepRun) input(ctx context.Context, in InputAction, d tdata) error {
	if v := d.Input[in.Name]; v != "" {
		return nil
	}
	switch in.From {
	case "email":
		to := r.expand(in.To, d)
		if to == "" {
			to = d.Email
		}
		since := r.a.StateChangedAt
		code, ok, err := r.p.deps.Inbox.Find(ctx, to, since, regexp.MustCompile(in.Pattern))
		if err != nil {
			return err
		}
		if !ok {
			return &errWaiting{what: "the e-mail with the " + in.Name + " to " + to}
		}
		r.logf("input %s from e-mail", in.Name)
		d.Input[in.Name] = code
		// Kept for this step only; the next e-mail code replaces it.
		return nil
	default:
		return &errWaiting{what: fmt.Sprintf("input %q (POST /v1/accounts/%s/input)", in.Name, r.a.ID)}
	}
}

// captcha solves the page's captcha, if it shows one.
func (r *stepRun) captcha(ctx context.Context, c CaptchaAction, d tdata) error {
	b := r.b
	img, err := b.locate(ctx, Target{Role: "img", Name: c.Image})
	if err != nil {
		r.logf("no captcha shown")
		return nil
	}
	files := map[string][]byte{}
	if src, err := eval[string](ctx, b, 10*time.Second, fmt.Sprintf(`document.querySelector(%q).src`, img)); err == nil {
		if data, err := b.fetch(ctx, src); err == nil {
			files["image"] = data
		}
	}
	if c.Audio != "" {
		if link, err := b.locate(ctx, Target{Role: "link", Name: c.Audio}); err == nil {
			href, _ := eval[string](ctx, b, 10*time.Second, fmt.Sprintf(`document.querySelector(%q).href`, link))
			if data, err := b.fetch(ctx, href); err == nil {
				files["audio"] = data
			}
		}
	}
	answer := d.Input["captcha"]
	if answer != "" {
		r.solver = "human"
	}
	for _, s := range r.p.deps.Solvers {
		if answer != "" {
			break
		}
		for _, kind := range s.Kinds() {
			data := files[kind]
			if data == nil || answer != "" {
				continue
			}
			if _, human := s.(HumanSolver); human {
				dir := filepath.Join(r.p.cfg.DataDir, "evidence", r.a.ID, "captcha")
				os.MkdirAll(dir, 0o700)
				os.WriteFile(filepath.Join(dir, kind+ext(kind)), data, 0o600)
				return &errWaiting{what: fmt.Sprintf("a human to answer the captcha in %s (POST /v1/accounts/%s/input name=captcha)", dir, r.a.ID)}
			}
			got, err := s.Solve(ctx, Captcha{Kind: kind, Data: data, Ext: ext(kind)})
			if err != nil {
				r.logf("solver %s failed: %v", s.Name(), err)
				r.p.stats.add(s.Name(), func(st *SolverStats) { st.Errors++ })
				continue
			}
			answer, r.solver = strings.TrimSpace(got), s.Name()
			r.p.stats.add(s.Name(), func(st *SolverStats) { st.Answers++ })
			r.logf("captcha (%s) answered by %s with %d characters", kind, s.Name(), len(answer))
		}
	}
	if answer == "" {
		return fmt.Errorf("no solver answered the captcha")
	}
	sel, err := b.locate(ctx, Target{Label: c.Answer})
	if err != nil {
		return err
	}
	return r.typeInto(ctx, sel, answer)
}

// typeInto clears a field, focuses it and types v into it with key events.
// It does not use chromedp.SendKeys: in chromedp v0.23.0 that reads the
// node's attributes outside their lock, a data race with the page's own
// attribute changes that the race detector reports.
func (r *stepRun) typeInto(ctx context.Context, sel, v string) error {
	focused, err := eval[bool](ctx, r.b, 10*time.Second, fmt.Sprintf(`(function(){const e=document.querySelector(%q); e.value=''; e.focus(); return document.activeElement===e})()`, sel))
	if err != nil {
		return err
	}
	if !focused {
		return fmt.Errorf("field %s does not take the focus", sel)
	}
	return r.b.do(ctx, r.p.cfg.PageTimeout, chromedp.KeyEvent(v))
}

func ext(kind string) string {
	if kind == "audio" {
		return ".wav"
	}
	return ".png"
}
