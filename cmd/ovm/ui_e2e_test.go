package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/identity/identitytest"
	"github.com/ovmdev/ovm/internal/testtool"
)

// uiBrowser is a real headless Chromium driving the console. It keeps
// every console message of the pages (an error or a warning fails the
// test) and saves a screenshot of every page it is asked to.
type uiBrowser struct {
	t    *testing.T
	ctx  context.Context
	base string
	// shots is where screenshots go (OVM_UI_SCREENSHOTS, or a temp dir);
	// phoneShots says to save each page at the phone's width too (only
	// when asked: OVM_UI_SCREENSHOTS or OVM_UI_DOCS_IMAGES).
	shots      string
	phoneShots bool
	// docs is docs/images when OVM_UI_DOCS_IMAGES=1: the pages of
	// docImages are saved there, at desktop and phone width, for
	// docs/console.md. Unset (CI), no file of the repository changes.
	docs string
	// axe is axe-core's source (tools/npm), run on every page.
	axe   string
	pages int
	// axeTime and phoneTime are what the checks of every page cost.
	axeTime, phoneTime time.Duration
	mu                 sync.Mutex
	msgs               []string
}

func newUIBrowser(t *testing.T, base string) *uiBrowser {
	chromium := testtool.Require(t, "chromium", "make deps installs it")
	dir := testtool.BrowserDir(t)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromium), chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(desktopW, desktopH)}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	axe, err := os.ReadFile(testtool.NPMFile(t, "axe-core/axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	b := &uiBrowser{t: t, ctx: ctx, base: base, shots: os.Getenv("OVM_UI_SCREENSHOTS"), axe: string(axe)}
	b.phoneShots = b.shots != ""
	if b.shots == "" {
		b.shots = filepath.Join(dir, "screenshots")
	}
	if os.Getenv("OVM_UI_DOCS_IMAGES") == "1" {
		b.docs, b.phoneShots = filepath.Join("..", "..", "docs", "images"), true
	}
	os.MkdirAll(b.shots, 0o755)
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			// A page answered 400 or 403 on purpose (a refused form, an
			// admin page for a user) is logged as a failed load of the
			// document itself; any other failed load (a script, a style,
			// an image) and any other message is an error.
			if documentRefusal.MatchString(m.Text) && strings.Contains(m.URL, "/ui/") &&
				!strings.Contains(m.URL, "/static/") && !strings.Contains(m.URL, "/evidence/") {
				continue
			}
			b.mu.Lock()
			b.msgs = append(b.msgs, m.String()+" ("+m.URL+")")
			b.mu.Unlock()
		}
	}()
	// The copy buttons write to the clipboard; a headless browser asks no
	// one, so the page's origin is granted it as a person would.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.Run(ctx, chromedp.Action[cdp.Empty](func(ctx context.Context, tg *chromedp.Target) (cdp.Empty, error) {
			return cdp.Call(ctx, tg, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true}, Setting: browser.PermissionSettingGranted, Origin: base})
		}))
		if err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.msgs {
			t.Errorf("the browser console said: %s", m)
		}
	})
	return b
}

var documentRefusal = regexp.MustCompile(`^Failed to load resource: the server responded with a status of (400|403|404|409) `)

// do runs actions with a deadline.
func (b *uiBrowser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("browser: %v\nat %s:\n%s", err, loc, body)
	}
}

// eval evaluates a script and returns its value.
func eval[T any](b *uiBrowser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *uiBrowser) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

func (b *uiBrowser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *uiBrowser) body() string { return eval[string](b, `document.body.innerText`) }

func (b *uiBrowser) path() string { return eval[string](b, `location.pathname + location.search`) }

// page checks what every page must be, and saves its screenshot as name:
// one h1, headings in order, a label on every control, no script of its
// own that ran (window.__pwned), and the status it was answered with.
func (b *uiBrowser) page(name string) {
	b.t.Helper()
	problems := eval[[]string](b, `(function(){
	  const out = [];
	  const hs = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1]);
	  if (hs.filter(l => l === 1).length !== 1) out.push('not exactly one h1');
	  for (let i = 1; i < hs.length; i++) if (hs[i] > hs[i-1] + 1) out.push('heading h' + hs[i] + ' after h' + hs[i-1]);
	  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
	    const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
	    if (!named) out.push('a ' + el.tagName.toLowerCase() + ' without a label: ' + (el.name || el.id));
	  }
	  for (const el of document.querySelectorAll('button')) {
	    if (!(el.innerText.trim() || el.getAttribute('aria-label'))) out.push('a button without a name');
	  }
	  if (window.__pwned) out.push('injected script ran: ' + window.__pwned);
	  return out;
	})()`)
	for _, p := range problems {
		b.t.Errorf("page %s (%s): %s", name, b.path(), p)
	}
	start := time.Now()
	for _, v := range b.axeViolations() {
		b.t.Errorf("page %s (%s): axe-core: %s", name, b.path(), v)
	}
	b.axeTime += time.Since(start)
	b.shoot(name, "")
	start = time.Now()
	// The same page on a phone: 390 px wide (an iPhone 12 to 15).
	b.do(chromedp.EmulateViewport(phoneW, phoneH, chromedp.EmulateMobile))
	for _, p := range eval[[]string](b, phoneCheck) {
		b.t.Errorf("page %s (%s) at %d px: %s", name, b.path(), phoneW, p)
	}
	if b.phoneShots {
		b.shoot(name, "-phone")
	}
	b.do(chromedp.EmulateViewport(desktopW, desktopH)) // EmulateReset leaves the phone's width
	b.phoneTime += time.Since(start)
	b.pages++
}

// The phone the pages are checked on, and the desktop, in CSS pixels.
const phoneW, phoneH, desktopW, desktopH = 390, 844, 1280, 900

// phoneCheck finds what reads badly on a phone: a table row higher than a
// third of the screen (a screen per account), and anything that extends
// past the viewport's right edge outside a box that scrolls sideways (or
// clips) within the viewport. At most 5 of each.
const phoneCheck = `(function(){
  const out = [], vw = document.documentElement.clientWidth, vh = window.innerHeight;
  const what = el => (el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' + (el.innerText || el.textContent || '').trim().slice(0, 50) + '"');
  let rows = 0, wide = 0;
  for (const tr of document.querySelectorAll('tr')) {
    const h = tr.getBoundingClientRect().height;
    if (h > vh / 3 && rows++ < 5) out.push('a table row is ' + Math.round(h) + ' px high (more than a third of ' + vh + '): ' + what(tr));
  }
  const contained = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if ((o === 'auto' || o === 'scroll' || o === 'hidden' || o === 'clip') && p.getBoundingClientRect().right <= vw + 1) return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= vw + 1) continue;
    if (!contained(el) && wide++ < 5) out.push('extends to ' + Math.round(r.right) + ' px, past the viewport (' + vw + '): ' + what(el));
  }
  if (document.documentElement.scrollWidth > vw + 1) out.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' px wide');
  return out;
})()`

// axeViolations runs axe-core (the version pinned in tools/npm) on the
// page and returns its serious and critical violations, each with up to
// three of its elements.
func (b *uiBrowser) axeViolations() []string {
	b.t.Helper()
	if !eval[bool](b, `typeof window.axe === 'object'`) {
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](b.axe)); err != nil {
			b.t.Fatalf("inject axe-core: %v", err)
		}
	}
	return eval[[]string](b, `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
	  .filter(v => v.impact === 'serious' || v.impact === 'critical')
	  .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' (' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; ') + ')'))`)
}

// docImages are the pages saved to docs/images (OVM_UI_DOCS_IMAGES=1), as
// console-<name>.png and console-<name>-phone.png: a lessee's path and an
// operator's.
var docImages = map[string]string{"my-leases": "my-leases", "lease": "lease", "credentials": "credentials", "pool": "pool",
	"leases": "leases", "lease-frozen": "lease-frozen", "account-quarantined": "account"}

// shoot saves the page's screenshot as name+suffix.
func (b *uiBrowser) shoot(name, suffix string) {
	b.t.Helper()
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+suffix+".png"), shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if doc := docImages[name]; b.docs != "" && doc != "" {
		if err := os.WriteFile(filepath.Join(b.docs, "console-"+doc+suffix+".png"), shot, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// waitFor reloads the page until cond holds of its text.
func (b *uiBrowser) waitFor(what string, d time.Duration, cond func(body string) bool) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if cond(b.body()) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting for %s at %s:\n%s", what, b.path(), b.body())
		}
		time.Sleep(300 * time.Millisecond)
		b.do(chromedp.Reload())
	}
}

const uiConfig = `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
api: {default_pool: default}
spend: {interval: 100ms}
auth:
  oidc:
    - issuer: %s
      audience: ovm-console
      owner_claim: email
      owner_prefix: "idp:"
      role_claim: groups
      admin_values: [ovm-admins]
      console: {name: Test IdP}
pools:
  - name: default
    stock: {target: 1, ceiling: 4}
    lease: {default_ttl: 2h, max_ttl: 8h}
    sim: {create_latency: 400ms, bootstrap_latency: 100ms, spend_per_hour: 36}
    budget:
      limit_usd: 100
      project: 1h
      thresholds:
        - {at: "50%%", action: notify}
        - {at: "90%%", action: freeze}
  - name: broken
    stock: {target: 1, ceiling: 2}
    retry: {max_attempts: 1, base_delay: 100ms, max_delay: 1s}
    sim: {create_latency: 50ms, bootstrap_latency: 50ms, bootstrap_failures: 1}
`

// TestTheConsoleInARealBrowser drives the console of the real binary with
// Chromium, against a loopback OIDC issuer: a user signs in with it, takes
// an account, copies its credentials, opens its console, extends and
// releases the lease; the user cannot reach admin pages, and a form
// without its CSRF token changes nothing; an admin signs in with a key,
// sees the quarantined account with its screenshot, retries it, and it
// returns to stock; markup in labels stays text; keyboard alone signs in
// and takes an account.
func TestTheConsoleInARealBrowser(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	issuer := identitytest.New(t)
	issuer.SetUser(identitytest.User{"sub": "alice", "email": "alice@example.com", "groups": []any{"dev"}})
	s := newServer(t, fmt.Sprintf(uiConfig, issuer.URL))
	s.start()
	b := newUIBrowser(t, s.url)

	// --- a user signs in with the issuer ---
	b.open("/ui/")
	if p := b.path(); p != "/ui/login" {
		t.Fatalf("a new visitor is at %s, want the sign-in page", p)
	}
	b.page("sign-in")
	b.do(chromedp.Click(chromedp.CSS(`a[href^="/ui/login/oidc"]`)), chromedp.WaitVisible(chromedp.CSS(`#take-heading`)))
	if who := b.text(".who"); who != "idp:alice@example.com (user)" {
		t.Fatalf("signed in as %q", who)
	}
	cookie := eval[string](b, `document.cookie`)
	if strings.Contains(cookie, "ovm_session") {
		t.Fatal("the session cookie is readable by scripts (not HttpOnly)")
	}
	b.page("my-leases")

	// --- takes an account (waiting while the stock fills) ---
	b.do(chromedp.SetValue(chromedp.CSS(`#ttl`), "3h"), chromedp.Click(chromedp.CSS(`form[action="/ui/leases"] button`)))
	if strings.HasPrefix(b.path(), "/ui/leases") && !strings.HasPrefix(b.path(), "/ui/leases/lse") {
		b.page("waiting")
	}
	b.do(chromedp.WaitVisible(chromedp.CSS(`#lease-account`)))
	leaseID := strings.TrimPrefix(b.path(), "/ui/leases/")
	if !strings.HasPrefix(leaseID, "lse_") || !regexp.MustCompile(`^(2h 59m|3h 0m) left$`).MatchString(b.text("#lease-left")) {
		t.Fatalf("the lease page %s shows %q left", leaseID, b.text("#lease-left"))
	}
	if n := eval[int](b, `document.querySelectorAll('#budget-bar line.mark').length`); n != 2 || b.text("#budget-limit") != "100.00 USD" {
		t.Fatalf("the lessee's budget bar has %d thresholds, limit %q", n, b.text("#budget-limit"))
	}
	if eval[int](b, `document.querySelectorAll('#freeze, #unfreeze, #lease-account-link').length`) != 0 {
		t.Fatal("a lessee is offered an admin's freeze, or a link to the account's (admin) page")
	}
	b.page("lease")

	// --- sees what it spends (the simulated instance, 36 USD an hour) ---
	b.waitFor("the lease's spend by day", 15*time.Second, func(body string) bool { return strings.Contains(body, "Spend by day (UTC)") })
	if burn := b.text("#lease-burn"); burn != "36.0000 USD an hour" {
		t.Fatalf("the lease burns %q", burn)
	}
	if n := eval[int](b, `document.querySelectorAll('#spend-chart rect.vends').length`); n < 1 {
		t.Fatal("the spend chart has no day")
	}
	b.page("lease-spend")

	// --- copies its credentials ---
	b.do(chromedp.Click(chromedp.CSS(`#get-credentials`)), chromedp.WaitVisible(chromedp.CSS(`#env-lines`)))
	env := eval[string](b, `document.getElementById('env-lines').value`)
	if !regexp.MustCompile(`(?m)^export AWS_ACCESS_KEY_ID='ASIA\w+'$`).MatchString(env) || !strings.Contains(env, "export AWS_SESSION_TOKEN=") {
		t.Fatalf("env lines: %q", env)
	}
	b.do(chromedp.Click(chromedp.CSS(`button[data-copy="env-lines"]`)))
	b.do(chromedp.Poll[chromedp.Void](`document.getElementById('env-lines-status').textContent === 'Copied.'`, chromedp.WithPollingTimeout(10*time.Second)))
	if got := eval[string](b, `navigator.clipboard.readText()`); got != env {
		t.Fatalf("the clipboard holds %q, want the env lines", got)
	}
	if p := eval[string](b, `document.getElementById('process-line').value`); !strings.Contains(p, "credential_process = ovm lease credentials "+leaseID+" --format process") {
		t.Fatalf("credential_process line: %q", p)
	}
	b.page("credentials")

	// --- opens the (simulated) console ---
	b.open("/ui/leases/" + leaseID)
	b.do(chromedp.Click(chromedp.CSS(`#open-console`)), chromedp.WaitVisible(chromedp.CSS(`#console-link`)))
	if href := eval[string](b, `document.getElementById('console-link').href`); !strings.Contains(href, "/ui/simulated-console?lease="+leaseID) {
		t.Fatalf("console link %q", href)
	}
	b.page("console")
	b.open("/ui/simulated-console?lease=" + leaseID)
	if got := b.body(); !strings.Contains(got, "simulated AWS console") {
		t.Fatalf("the simulated console: %s", got)
	}
	b.page("simulated-console")

	// --- extends: a bad value is answered next to the field, and changes nothing ---
	b.open("/ui/leases/" + leaseID)
	before := b.text("#lease-expires")
	b.do(chromedp.SetValue(chromedp.CSS(`#extend_by`), "soon"), chromedp.Click(chromedp.CSS(`#extend`)),
		chromedp.WaitVisible(chromedp.CSS(`#extend_by-error`)))
	if b.text("#lease-expires") != before || eval[string](b, `document.getElementById('extend_by').getAttribute('aria-invalid')`) != "true" {
		t.Fatal("a refused extension changed the lease, or the field is not marked invalid")
	}
	b.page("lease-bad-extend")
	b.do(chromedp.SetValue(chromedp.CSS(`#extend_by`), "1h"), chromedp.Click(chromedp.CSS(`#extend`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	if after := b.text("#lease-expires"); after == before || !regexp.MustCompile(`^(3h 59m|4h 0m) left$`).MatchString(b.text("#lease-left")) {
		t.Fatalf("extended from %s to %s, %s left", before, after, b.text("#lease-left"))
	}

	// --- a user cannot reach admin pages ---
	for _, p := range []string{"/ui/accounts", "/ui/keys", "/ui/deliveries", "/ui/accounts?state=quarantined", "/ui/leases"} {
		b.open(p)
		if body := b.body(); !strings.Contains(body, "This page is for admins") || strings.Contains(body, "acc_") {
			t.Fatalf("%s for a user:\n%s", p, body)
		}
	}
	b.page("forbidden")

	// --- a forged form without the CSRF token changes nothing ---
	b.open("/ui/leases/" + leaseID)
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(function(){
	  const f = document.createElement('form'); f.method = 'post'; f.action = '/ui/leases/%s/release';
	  document.body.appendChild(f); f.submit(); })()`, leaseID)), chromedp.WaitVisible(chromedp.CSS(`#page-error`)))
	if !strings.Contains(b.text("#page-error"), "security token is missing or stale") {
		t.Fatalf("a forged form: %s", b.body())
	}
	var l client.Lease
	if r := s.do("GET", "/v1/leases/"+leaseID, s.key, ""); r.status != 200 || json.Unmarshal(r.body, &l) != nil || l.State != "active" {
		t.Fatalf("after a forged release the lease is %d %s", r.status, r.body)
	}

	// --- releases ---
	b.open("/ui/leases/" + leaseID)
	b.do(chromedp.Click(chromedp.CSS(`#release`)), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	if r := s.do("GET", "/v1/leases/"+leaseID, s.key, ""); json.Unmarshal(r.body, &l) != nil || l.State != "active" {
		t.Fatalf("the release's confirmation ended the lease: %s", r.body)
	}
	b.page("lease-confirm-release")
	b.do(chromedp.Click(chromedp.CSS(`#confirm`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	if body := b.body(); !strings.Contains(body, "The lease is released") || strings.Contains(body, leaseID) {
		t.Fatalf("after the release:\n%s", body)
	}
	if r := s.do("GET", "/v1/leases/"+leaseID, s.key, ""); json.Unmarshal(r.body, &l) != nil || l.State != "ended" || l.EndReason != "released" {
		t.Fatalf("the released lease: %s", r.body)
	}

	// --- sign-out ends the session: its cookie no longer opens a page ---
	b.do(chromedp.Click(chromedp.CSS(`.signout button`)), chromedp.WaitVisible(chromedp.CSS(`#key`)))
	b.open("/ui/")
	if p := b.path(); p != "/ui/login" {
		t.Fatalf("after sign-out the console opens %s", p)
	}

	// --- an admin signs in with the API key and handles the quarantine ---
	b.do(chromedp.SendKeys(chromedp.CSS(`#key`), s.key), chromedp.Submit(chromedp.CSS(`#key`)), chromedp.WaitVisible(chromedp.CSS(`#take-heading`)))
	if who := b.text(".who"); !strings.HasSuffix(who, "(admin)") {
		t.Fatalf("the admin key signed in as %q", who)
	}
	b.open("/ui/accounts?state=quarantined")
	b.waitFor("the broken pool's account in quarantine", 60*time.Second, func(body string) bool { return strings.Contains(body, "acc_") })
	b.page("quarantine")
	// The broken pool's page names why each account waits.
	b.open("/ui/pools/broken")
	if reason := b.text("#pool-waiting .reason"); reason == "" {
		t.Fatalf("the pool's waiting list gives no reason:\n%s", b.text("#pool-waiting"))
	}
	b.page("pool-waiting")
	b.open("/ui/accounts?state=quarantined")
	b.do(chromedp.Click(chromedp.CSS(`tbody a[href^="/ui/accounts/acc_"]`)), chromedp.WaitVisible(chromedp.CSS(`#account-state`)))
	accountPath := b.path()
	if st := b.text("#account-state"); !strings.HasPrefix(st, "quarantined") {
		t.Fatalf("account state %q", st)
	}
	b.do(chromedp.Poll[chromedp.Void](`(function(){ const i = document.querySelector('img.screenshot'); return i && i.complete && i.naturalWidth > 0; })()`,
		chromedp.WithPollingTimeout(10*time.Second)))
	pageLink := eval[string](b, `[...document.querySelectorAll('figcaption a')].find(a => a.textContent === "the page's HTML").href`)
	b.page("account-quarantined")
	// The captured page is served sandboxed (no script of it runs as
	// OVM), and only to a session: a bearer key alone is sent to sign in.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", pageLink, nil)
	req.Header.Set("Authorization", "Bearer "+s.key)
	if res, err := noFollow.Do(req); err != nil || res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/ui/login" {
		t.Fatalf("the evidence link without a session: %v %v", res, err)
	}
	b.open(strings.TrimPrefix(pageLink, s.url))
	if got := b.body(); !strings.Contains(got, "the page changed") {
		t.Fatalf("the captured page: %q", got)
	}
	if origin := eval[string](b, `window.origin`); origin != "null" {
		t.Fatalf("the captured page runs with origin %q, want a sandbox's (null)", origin)
	}
	b.open(accountPath)
	b.do(chromedp.Click(chromedp.CSS(`#retry`)), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	if !strings.Contains(b.text("#confirm-text"), "Retry account") {
		t.Fatalf("confirmation: %s", b.text("#confirm-text"))
	}
	b.page("account-confirm-retry")
	b.do(chromedp.Click(chromedp.CSS(`#confirm`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	b.open(accountPath)
	b.waitFor("the retried account back in stock", 60*time.Second, func(body string) bool {
		return strings.Contains(body, "State\nready") || strings.Contains(body, "State\tready")
	})
	b.page("account-ready")
	// Retiring a ready account (in stock) asks first, and says it is ready.
	b.do(chromedp.Click(chromedp.CSS(`#retire`)), chromedp.WaitVisible(chromedp.CSS(`#confirm`)))
	if txt := b.text("#confirm-text"); !strings.Contains(txt, "is ready") {
		t.Fatalf("the confirmation of a ready account's retirement: %q", txt)
	}
	b.page("account-confirm-retire-ready")
	b.do(chromedp.Click(chromedp.CSS(`#confirm`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	if st := b.text("#account-state"); st == "ready" {
		t.Fatalf("the retired ready account is still %s", st)
	}
	operatorPath(t, s, b)
	b.open("/ui/pools")
	b.page("pools")
	b.open("/ui/pools/default")
	if dots := eval[int](b, `document.querySelectorAll('#pool-chart circle.ready-dot').length`); dots < 1 || !strings.Contains(b.text("#chart-summary"), "vends") {
		t.Fatalf("the pool's chart: %d samples drawn, %q", dots, b.text("#chart-summary"))
	}
	b.page("pool")
	b.open("/ui/keys")
	b.page("keys")
	b.open("/ui/deliveries")
	b.page("deliveries")
	b.open("/ui/accounts")
	b.page("accounts")

	// --- markup in what people typed stays text ---
	mallory := createKey(t, s, "mallory", "user")
	hostile := `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><b>bold</b>`
	body, _ := json.Marshal(map[string]any{"pool": "default", "wait": "30s", "labels": map[string]string{"note": hostile}})
	r := s.do("POST", "/v1/leases", mallory, string(body))
	if r.status != 201 || json.Unmarshal(r.body, &l) != nil {
		t.Fatalf("mallory's lease: %d %s", r.status, r.body)
	}
	b.do(chromedp.Click(chromedp.CSS(`.signout button`)), chromedp.WaitVisible(chromedp.CSS(`#key`)))
	// Keyboard alone: Tab to the key field, type, Enter.
	for i := 0; i < 10 && eval[string](b, `document.activeElement.id`) != "key"; i++ {
		b.do(chromedp.KeyEvent("\t"))
	}
	b.do(chromedp.KeyEvent(mallory), chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS(`#take-heading`)))
	b.open("/ui/leases/" + l.ID)
	if got := b.body(); !strings.Contains(got, hostile) {
		t.Fatalf("the label is not shown as text:\n%s", got)
	}
	if n := eval[int](b, `document.querySelectorAll('main b, main img, main script').length`); n != 0 {
		t.Fatalf("%d elements came from the label", n)
	}
	b.page("lease-hostile-label")
	// Keyboard alone: take an account from the home page.
	b.open("/ui/")
	for i := 0; i < 30 && eval[string](b, `document.activeElement.textContent`) != "Take an account"; i++ {
		b.do(chromedp.KeyEvent("\t"))
	}
	b.do(chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS(`#lease-account`)))
	// Mallory's pages never show alice's lease.
	b.open("/ui/leases/" + leaseID)
	if got := b.body(); strings.Contains(got, "alice") || !strings.Contains(got, "not found") && !strings.Contains(got, "Forbidden") && !strings.Contains(got, "admins") {
		t.Fatalf("mallory opened alice's lease:\n%s", got)
	}
	t.Logf("screenshots in %s; %d pages checked: axe-core took %v, the phone's width %v", b.shots, b.pages,
		b.axeTime.Round(time.Millisecond), b.phoneTime.Round(time.Millisecond))
}

// operatorPath is an admin's path through leases: every owner's leases,
// filtered; a lease with a budget, frozen from its page and unfrozen; its
// account's page naming the lease and its holder; a delivery with its
// targets (none: no subscription is configured, so it is not "delivered").
func operatorPath(t *testing.T, s *server, b *uiBrowser) {
	bob := createKey(t, s, "bob", "user")
	r := s.do("POST", "/v1/leases", bob, `{"pool": "default", "wait": "30s"}`)
	var l client.Lease
	if r.status != 201 || json.Unmarshal(r.body, &l) != nil {
		t.Fatalf("bob's lease: %d %s", r.status, r.body)
	}
	b.open("/ui/leases")
	if !strings.Contains(b.text("#leases"), l.ID) {
		t.Fatalf("the leases page lacks bob's lease %s:\n%s", l.ID, b.body())
	}
	b.page("leases")
	b.do(chromedp.SetValue(chromedp.CSS(`#owner`), "bob"), chromedp.SetValue(chromedp.CSS(`#pool`), "default"),
		chromedp.SetValue(chromedp.CSS(`#state`), "active"), chromedp.Submit(chromedp.CSS(`#owner`)),
		chromedp.WaitVisible(chromedp.CSS(`#leases`)))
	if owners := eval[[]string](b, `[...document.querySelectorAll('#leases td[data-label=Owner]')].map(td => td.textContent)`); len(owners) != 1 || owners[0] != "bob" {
		t.Fatalf("filtered by owner bob, the page lists %v", owners)
	}
	b.page("leases-filtered")

	// The lease's page: its budget, a link to its account, and the freeze.
	b.do(chromedp.Click(chromedp.CSS(`#leases a[href^="/ui/leases/lse_"]`)), chromedp.WaitVisible(chromedp.CSS(`#budget-bar`)))
	if th := b.text("#budget-thresholds"); !strings.Contains(th, "50% (50.00 USD): notify") || !strings.Contains(th, "90% (90.00 USD): freeze") {
		t.Fatalf("the budget's thresholds: %q", th)
	}
	accountHref := eval[string](b, `document.getElementById('lease-account-link').getAttribute('href')`)
	if accountHref != "/ui/accounts/"+l.OVMAccountID {
		t.Fatalf("the lease's account link is %q, want the account %s", accountHref, l.OVMAccountID)
	}
	b.page("lease-admin")
	b.do(chromedp.SetValue(chromedp.CSS(`#reason`), "looking into a spike"), chromedp.Click(chromedp.CSS(`#freeze`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	if st := b.text("#lease-state"); !strings.HasPrefix(st, "frozen since") || !strings.Contains(st, "looking into a spike") || b.text("#frozen-note") == "" {
		t.Fatalf("the frozen lease's page says %q", st)
	}
	if r := s.do("GET", "/v1/leases/"+l.ID, s.key, ""); json.Unmarshal(r.body, &l) != nil || l.State != "frozen" {
		t.Fatalf("after the console's freeze the lease is %s", r.body)
	}
	if r := s.do("POST", "/v1/leases/"+l.ID+"/credentials", bob, ""); r.status != http.StatusConflict {
		t.Fatalf("credentials of a frozen lease: %d", r.status)
	}
	b.page("lease-frozen")
	for state, want := range map[string]bool{"frozen": true, "active": false} {
		b.open("/ui/leases?owner=bob&state=" + state)
		if got := strings.Contains(b.body(), l.ID); got != want {
			t.Fatalf("the leases page of state %s lists the frozen lease: %v", state, got)
		}
	}
	// Its account's page names the lease and its holder.
	b.open(accountHref)
	if b.text("#account-holder") != "bob" || !strings.Contains(b.text("#account-lease"), l.ID) {
		t.Fatalf("the account's page names %q", b.text("#account-lease"))
	}
	b.page("account-leased")
	b.do(chromedp.Click(chromedp.CSS(`#account-lease a`)), chromedp.WaitVisible(chromedp.CSS(`#unfreeze`)))
	b.do(chromedp.Click(chromedp.CSS(`#unfreeze`)), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	if st := b.text("#lease-state"); st != "active" {
		t.Fatalf("the unfrozen lease is %q", st)
	}
	if r := s.do("POST", "/v1/leases/"+l.ID+"/credentials", bob, ""); r.status != http.StatusOK {
		t.Fatalf("credentials of the unfrozen lease: %d", r.status)
	}

	// Deliveries: none has a subscriber here, and none says delivered.
	b.open("/ui/deliveries?state=delivered")
	b.waitFor("a delivery", 15*time.Second, func(body string) bool { return strings.Contains(body, "Last error") })
	if states := eval[[]string](b, `[...document.querySelectorAll('.delivery-state')].map(td => td.textContent)`); len(states) == 0 || slices.Contains(states, "delivered") {
		t.Fatalf("deliveries without a subscriber show as %v", states)
	}
	b.page("deliveries-delivered")
	b.do(chromedp.Click(chromedp.CSS(`#deliveries a[href^="/ui/deliveries/"]`)), chromedp.WaitVisible(chromedp.CSS(`#targets-heading`)))
	if b.text("#delivery-state") != "no subscriber" || b.text("#no-targets") == "" {
		t.Fatalf("the delivery's page:\n%s", b.body())
	}
	b.page("delivery")
}

// createKey makes an API key with the admin key and returns its secret.
func createKey(t *testing.T, s *server, name, role string) string {
	t.Helper()
	r := s.do("POST", "/v1/keys", s.key, fmt.Sprintf(`{"name":%q,"role":%q}`, name, role))
	var k client.Key
	if r.status != 201 || json.Unmarshal(r.body, &k) != nil || k.Key == "" {
		t.Fatalf("create key %s: %d %s", name, r.status, r.body)
	}
	return k.Key
}
