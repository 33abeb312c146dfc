package signup

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// browser is one account's Chromium, with a profile directory on disk so
// that a restarted browser continues the same sign-up session.
type browser struct {
	ctx    context.Context
	cancel func()
}

// browserFor returns the account's browser, starting one (fresh is true)
// when it has none.
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

// closeBrowser ends the account's browser; its profile stays on disk.
func (p *Provider) closeBrowser(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.browsers[id]; b != nil {
		b.cancel()
		delete(p.browsers, id)
	}
}

// startBrowser starts headless Chromium with profile dir.
func startBrowser(chromium, profile string) (*browser, error) {
	if err := os.MkdirAll(profile, 0o700); err != nil {
		return nil, err
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.UserDataDir(profile), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1200, 1600),
	}
	// The browser outlives the step that starts it (it is kept for the
	// account's next steps) and is ended by closeBrowser or Shutdown, so
	// its context is not derived from a step's.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		cancelCtx()
		cancelAlloc()
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	return &browser{ctx: ctx, cancel: func() { cancelCtx(); cancelAlloc() }}, nil
}

// do runs actions with a deadline; a cancelled ctx stops them too.
func (b *browser) do(ctx context.Context, d time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	tctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	return chromedp.Do(tctx, actions...)
}

// eval evaluates JavaScript in the page with a deadline.
func eval[T any](ctx context.Context, b *browser, d time.Duration, js string, opts ...chromedp.EvaluateOption) (T, error) {
	return run(ctx, b, d, chromedp.Evaluate[T](js, opts...))
}

// run runs one action that returns a value, with a deadline.
func run[T any](ctx context.Context, b *browser, d time.Duration, a chromedp.Action[T]) (T, error) {
	tctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	return chromedp.Run(tctx, a)
}

// locateJS marks the one visible element that matches a query by label,
// by role and accessible name, or by image alt text, and returns its mark.
const locateJS = `(function(q){
  const norm = s => (s||'').replace(/\s+/g,' ').trim().toLowerCase();
  const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) ||
    (el.type === 'radio' || el.type === 'checkbox');
  const want = norm(q.name || q.label);
  let c = [];
  if (q.label) {
    for (const l of document.querySelectorAll('label')) {
      const own = norm(Array.from(l.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join(' ')) || norm(l.textContent);
      if (own === want || norm(l.textContent) === want) {
        const el = l.control || (l.htmlFor && document.getElementById(l.htmlFor));
        if (el) c.push(el);
      }
    }
    for (const el of document.querySelectorAll('[aria-label]')) if (norm(el.getAttribute('aria-label')) === want) c.push(el);
  } else {
    const sel = {button: 'button,input[type=submit],input[type=button],[role=button]', link: 'a[href],[role=link]',
      option: '[role=option],option', img: 'img,[role=img]'}[q.role] || '[role="' + q.role + '"]';
    for (const el of document.querySelectorAll(sel)) {
      const name = norm(el.getAttribute('aria-label') || el.getAttribute('alt') ||
        (el.tagName === 'INPUT' ? el.value : el.textContent));
      if (name === want) c.push(el);
    }
  }
  c = Array.from(new Set(c)).filter(el => visible(el) && !el.hidden);
  if (c.length === 0) return {error: 'not found'};
  if (c.length > 1) return {error: 'ambiguous (' + c.length + ' matches)'};
  const id = 'm' + Math.random().toString(36).slice(2);
  c[0].setAttribute('data-ovm', id);
  return {id: id};
})(%s)`

type located struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// locate finds an element and returns a CSS selector for it.
func (b *browser) locate(ctx context.Context, t Target) (string, error) {
	q := fmt.Sprintf(`{"role": %q, "name": %q, "label": %q}`, t.Role, t.Name, t.Label)
	res, err := eval[located](ctx, b, 10*time.Second, fmt.Sprintf(locateJS, q))
	if err != nil {
		return "", err
	}
	if res.Error != "" {
		what := t.Label
		if what == "" {
			what = t.Role + " " + fmt.Sprintf("%q", t.Name)
		} else {
			what = "field labelled " + fmt.Sprintf("%q", what)
		}
		return "", fmt.Errorf("%s: %s", what, res.Error)
	}
	return `[data-ovm="` + res.ID + `"]`, nil
}

// heading is the page's main heading, which tells the step.
func (b *browser) heading(ctx context.Context) (string, error) {
	h, err := eval[string](ctx, b, 10*time.Second, `(document.querySelector('h1')||{}).innerText||''`)
	return strings.TrimSpace(h), err
}

// alert is the text of a visible error message, if any.
func (b *browser) alert(ctx context.Context) string {
	a, _ := eval[string](ctx, b, 5*time.Second, `(document.querySelector('[role=alert]')||{}).innerText||''`)
	return strings.TrimSpace(a)
}

func (b *browser) text(ctx context.Context) (string, error) {
	return eval[string](ctx, b, 10*time.Second, `document.body ? document.body.innerText : ''`)
}

func (b *browser) url(ctx context.Context) string {
	u, _ := run(ctx, b, 5*time.Second, chromedp.Location())
	return u
}

// fetch downloads url inside the page (with its cookies).
func (b *browser) fetch(ctx context.Context, url string) ([]byte, error) {
	js := fmt.Sprintf(`fetch(%q, {credentials: 'include'}).then(r => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.arrayBuffer(); })
	  .then(buf => { let s = ''; const a = new Uint8Array(buf); for (let i = 0; i < a.length; i++) s += String.fromCharCode(a[i]); return btoa(s); })`, url)
	b64, err := eval[string](ctx, b, 30*time.Second, js, chromedp.EvalAwaitPromise)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(b64)
}

// evidence keeps a screenshot, the page's HTML and the step's log in dir.
// Each capture is bounded by its own deadline; a failed step passes a ctx
// that outlives its own (context.WithoutCancel).
func (b *browser) evidence(ctx context.Context, dir string, log []string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	shot, _ := run(ctx, b, 15*time.Second, chromedp.FullScreenshot(80))
	html, _ := run(ctx, b, 15*time.Second, chromedp.OuterHTML(chromedp.CSS("html")))
	if len(shot) > 0 {
		os.WriteFile(filepath.Join(dir, "screenshot.jpg"), shot, 0o600)
	}
	os.WriteFile(filepath.Join(dir, "page.html"), []byte(html), 0o600)
	return os.WriteFile(filepath.Join(dir, "step.log"), []byte(strings.Join(log, "\n")+"\n"), 0o600)
}

// cookies returns the browser's cookies (the sign-up session).
func (b *browser) cookies(ctx context.Context) ([]*network.Cookie, error) {
	res, err := run(ctx, b, 10*time.Second, func(ctx context.Context, t *chromedp.Target) (storage.GetCookiesResult, error) {
		return cdp.Call(ctx, t, storage.GetCookies, storage.GetCookiesParams{})
	})
	return res.Cookies, err
}

// setCookies puts saved cookies into a fresh browser.
func (b *browser) setCookies(ctx context.Context, cs []*network.Cookie) error {
	params := make([]*network.CookieParam, 0, len(cs))
	for _, c := range cs {
		params = append(params, &network.CookieParam{Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path,
			Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite, Expires: cdp.TimeSinceEpoch(c.Expires)})
	}
	_, err := run(ctx, b, 10*time.Second, func(ctx context.Context, t *chromedp.Target) (cdp.Empty, error) {
		return cdp.Call(ctx, t, storage.SetCookies, storage.SetCookiesParams{Cookies: params})
	})
	return err
}
