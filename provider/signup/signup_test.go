package signup_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/internal/imaptest"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/internal/testtool"
	"github.com/ovmdev/ovm/provider/signup"
	"github.com/ovmdev/ovm/provider/signup/imapinbox"
	"github.com/ovmdev/ovm/provider/signup/replica"
	"github.com/ovmdev/ovm/provider/signup/s3bucket"
	"github.com/ovmdev/ovm/store/sqlitestore"
	"github.com/ovmdev/ovm/store/storetest"
	"github.com/ovmdev/ovm/vault"
)

var solverBin string

func TestMain(m *testing.M) {
	dir, _ := os.MkdirTemp("", "ovm-signup-")
	solverBin = filepath.Join(dir, "digitsolver")
	if out, err := exec.Command("go", "build", "-o", solverBin, "./testdata/digitsolver").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the test solver: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	mototest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// s3Mail delivers the replica's e-mails the way an SES receipt rule does:
// raw messages in an S3 bucket. SMS (3-D Secure codes) go to the relay.
type s3Mail struct {
	imap   *imaptest.Server // when set, mail goes there instead of S3
	c      *s3.Client
	bucket string
	relay  func(to, body string)
	n      int
	mu     sync.Mutex
}

func (m *s3Mail) Send(to, subject, body string) error {
	if strings.HasPrefix(to, "sms:") {
		m.relay(strings.TrimPrefix(to, "sms:"), body)
		return nil
	}
	m.mu.Lock()
	m.n++
	key := fmt.Sprintf("inbound/%d-%d", time.Now().UnixNano(), m.n)
	m.mu.Unlock()
	var qp strings.Builder
	enc := quotedprintable.NewWriter(&qp)
	enc.Write([]byte(body))
	enc.Close()
	raw := "From: no-reply@signup.replica\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + qp.String() + "\r\n"
	if m.imap != nil {
		return m.imap.Deliver(raw, time.Now())
	}
	_, err := m.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(m.bucket), Key: aws.String(key), Body: strings.NewReader(raw)})
	return err
}

// flows plays the contact flows a PhoneAnswerer writes (awsconnect is
// tested against its own Connect stand-in): the replica's verification
// call hears the PIN armed for the number, and nothing once disarmed.
type flows struct {
	mu            sync.Mutex
	armed         map[string]string
	arms, disarms int
}

func (f *flows) Arm(_ context.Context, number, pin string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed[number] = pin
	f.arms++
	return nil
}

func (f *flows) Disarm(_ context.Context, number string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.armed, number)
	f.disarms++
	return nil
}

type phone struct{ flows *flows }

func (p phone) Call(number string) (string, error) {
	p.flows.mu.Lock()
	defer p.flows.mu.Unlock()
	pin, ok := p.flows.armed[number]
	if !ok {
		return "", fmt.Errorf("number %s has no PIN to play", number)
	}
	return pin, nil
}

type console struct {
	mu    sync.Mutex
	roles map[string]string
}

func (c *console) CreateRole(acct, role, principal string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roles[acct] = role + " trusted by " + principal
	return nil
}

type world struct {
	t      *testing.T
	rep    *replica.Server
	srv    *httptest.Server
	store  *sqlitestore.Store
	dir    string
	flow   string // the operator's flow file
	phones *signup.PhonePool
	flows  *flows
	vault  *vault.File
	inbox  signup.Inbox
	s3     *s3.Client
	// evidence copies failed steps' evidence to S3 (moto).
	evidence *s3bucket.Evidence
	console  *console
	prov     *signup.Provider
	eng      *engine.Engine
	relayed  map[string]string // 3-D Secure codes by e-mail
	mu       sync.Mutex
	pol      ovm.Pool
	// moto is the AWS configuration of the test's moto server.
	moto aws.Config
	// tune, when set, changes the provider's dependencies at each start.
	tune func(*signup.Deps)
}

// mailVia is how the replica's e-mail reaches OVM's inbox.
type mailVia int

const (
	viaS3   mailVia = iota // an SES receipt rule's bucket (moto)
	viaIMAP                // an IMAP mailbox (internal/imaptest)
)

func newWorld(t *testing.T, card string) *world { return newWorldVia(t, card, viaS3) }

// newWorldVia makes the world; opts change it before the provider starts.
func newWorldVia(t *testing.T, card string, via mailVia, opts ...func(*world)) *world {
	testtool.Require(t, "chromium", "make deps installs it (apt-get install -y chromium)")
	testtool.Require(t, "espeak-ng", "make deps installs it (apt-get install -y espeak-ng)")
	moto := mototest.Require(t)
	cfg := moto.Config()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range []string{"ovm-mail", "ovm-evidence"} {
		if _, err := s3c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	w := &world{t: t, dir: testtool.BrowserDir(t), phones: signup.NewPhonePool([]string{"+15550100", "+15550101"}),
		console: &console{roles: map[string]string{}}, relayed: map[string]string{}}
	w.moto = cfg
	w.inbox = s3bucket.NewInbox(s3c, "ovm-mail", "inbound/")
	w.evidence = &s3bucket.Evidence{Client: s3c, Bucket: "ovm-evidence", Prefix: "evidence/"}
	w.s3 = s3c
	w.vault = &vault.File{Path: filepath.Join(w.dir, "vault.json"), KeyPath: filepath.Join(w.dir, "vault.key")}
	mail := &s3Mail{c: s3c, bucket: "ovm-mail", relay: func(to, body string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.relayed[to] = strings.TrimPrefix(body, "Your bank code: ")
	}}
	if via == viaIMAP {
		mail.imap = imaptest.Start(t, nil)
		w.inbox = &imapinbox.Inbox{Address: mail.imap.Addr, Username: imaptest.User, Password: imaptest.Password, Security: imapinbox.None}
	}
	w.flows = &flows{armed: map[string]string{}}
	w.rep = replica.New(replica.Original, mail, phone{w.flows}, w.console)
	w.srv = httptest.NewServer(w.rep)
	t.Cleanup(w.srv.Close)
	w.flow = filepath.Join(w.dir, "flow.yaml")
	os.WriteFile(w.flow, signup.DefaultFlow, 0o600)
	var err error
	w.store, err = sqlitestore.Open(context.Background(), filepath.Join(w.dir, "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.store.Close() })
	w.pol = ovm.Pool{Name: "managers", Provider: "signup", Stock: ovm.StockPolicy{Target: 1, MaxInFlight: 1},
		Retry: ovm.RetryPolicy{MaxAttempts: 2, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}}.WithDefaults()
	for _, o := range opts {
		o(w)
	}
	w.start(card)
	return w
}

// start makes the provider and the engine, as a (re)started OVM does.
func (w *world) start(card string) { w.startWith(card, nil) }

func (w *world) startWith(card string, bury func(context.Context, *ovm.Account) (ovm.StepResult, error)) {
	deps := signup.Deps{Inbox: w.inbox, Phones: w.phones, Answerer: w.flows, Vault: w.vault, Evidence: w.evidence,
		Solvers: []signup.CaptchaSolver{&signup.CommandSolver{Command: []string{solverBin}, For: []string{"audio"}}}, Bury: bury}
	if w.tune != nil {
		w.tune(&deps)
	}
	var err error
	w.prov, err = signup.New(signup.Config{Pool: "managers", BaseURL: w.srv.URL, FlowFile: w.flow, DataDir: w.dir,
		EmailTemplate: "root+{id}@example.com", TrustedPrincipal: "arn:aws:iam::123456789012:root",
		Contact: signup.Contact{FullName: "Ada Ops", Company: "Example Ltd", Phone: "+3531555000", Country: "Ireland",
			Address: "1 Main St", City: "Dublin", State: "Dublin", PostalCode: "D01"},
		Card:    signup.Card{Number: card, Month: "07", Year: "2030", Holder: "Ada Ops"},
		Billing: signup.Billing{Currency: "EUR", Email: "billing@example.com"}, PageTimeout: 10 * time.Second}, deps)
	if err != nil {
		w.t.Fatal(err)
	}
	prov := w.prov
	w.t.Cleanup(func() {
		prov.Shutdown()
		time.Sleep(500 * time.Millisecond) // Chromium's helpers end a moment after it
	})
	w.eng, err = engine.New(w.store, []engine.Pool{{Policy: w.pol, Provider: w.prov}}, ovm.SystemClock(),
		slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{Instance: "t", StepTimeout: 50 * time.Second, ClaimTTL: 2 * time.Minute})
	if err != nil {
		w.t.Fatal(err)
	}
}

// run ticks the engine until cond holds or the time is up, relaying 3-D
// Secure codes to waiting accounts on the way.
func (w *world) run(d time.Duration, what string, cond func(*ovm.Account) bool) *ovm.Account {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		w.eng.Tick(context.Background())
		accts, _, _ := w.store.AccountList(context.Background(), &ovm.AccountListParams{Pool: "managers"})
		for _, a := range accts {
			w.relay(a)
			if cond(a) {
				return a
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	accts, _, _ := w.store.AccountList(context.Background(), &ovm.AccountListParams{Pool: "managers"})
	var st []string
	for _, a := range accts {
		st = append(st, fmt.Sprintf("%s %s waiting=%q error=%q progress=%v", a.ID, a.State, a.Waiting, a.LastError, a.Progress))
	}
	w.t.Fatalf("timed out waiting for %s: %s", what, strings.Join(st, "; "))
	return nil
}

func (w *world) relay(a *ovm.Account) {
	w.mu.Lock()
	code := w.relayed[a.Email]
	w.mu.Unlock()
	if code == "" || a.Progress["input.bank_code"] == code {
		return
	}
	u, err := ovm.RecordInput(a, "bank_code", code, "key:sms-relay", time.Now())
	if err == nil {
		w.store.AccountUpdate(context.Background(), u)
	}
}

func evidenceDirs(t *testing.T, root, account string) []string {
	dirs, _ := filepath.Glob(filepath.Join(root, "evidence", account, "*-signup-*"))
	for _, d := range dirs {
		for _, f := range []string{"screenshot.jpg", "page.html", "step.log"} {
			if st, err := os.Stat(filepath.Join(d, f)); err != nil || st.Size() == 0 {
				t.Errorf("evidence %s lacks %s", d, f)
			}
		}
	}
	return dirs
}

func TestAManagementAccountIsSignedUpBootstrappedVendedAndClosed(t *testing.T) {
	w := newWorld(t, "4111 1111 1111 0003") // this card asks for 3-D Secure
	a := w.run(3*time.Minute, "a ready account", func(a *ovm.Account) bool {
		if a.State == ovm.AccountQuarantined {
			t.Fatalf("quarantined: %s", a.LastError)
		}
		return a.State == ovm.AccountReady
	})
	accts := w.rep.Accounts()
	if len(accts) != 1 || accts[0].ID != a.AWSAccountID || accts[0].Email != a.Email || accts[0].Country != "Ireland" {
		t.Fatalf("replica accounts %+v, store %s %s", accts, a.AWSAccountID, a.Email)
	}
	r := accts[0]
	if r.Currency != "EUR" || !r.PDFInvoices || r.BillingEmail != "billing@example.com" || r.Role != "OVMCrossAccountRole" {
		t.Fatalf("console settings %+v", r)
	}
	if a.RoleARN != ovm.RoleARN(a.AWSAccountID, "OVMCrossAccountRole") {
		t.Fatalf("role %s", a.RoleARN)
	}
	for _, k := range []string{"password", "root-password"} {
		for key, v := range a.Progress {
			if strings.Contains(key, k) || v == r.Password {
				t.Fatalf("the root password is in the store (%s)", key)
			}
		}
	}
	if pw, err := w.vault.Get(context.Background(), "root-password/"+a.ID); err != nil || pw != r.Password {
		t.Fatalf("vault: %v", err)
	}
	if st := w.prov.SolverStats()["command:"+filepath.Base(solverBin)]; st.Answers < 1 || st.Accepted < 1 {
		t.Fatalf("solver stats %+v", st)
	}
	if h := w.phones.Health(); h[0].Uses+h[1].Uses != 1 {
		t.Fatalf("phone health %+v", h)
	}
	// The numbers' health is kept for the next start.
	saved, err := w.vault.Get(context.Background(), "phone-health/managers")
	restored := signup.NewPhonePool([]string{"+15550100", "+15550101"})
	if err != nil || restored.Import([]byte(saved)) != nil {
		t.Fatalf("phone health in the vault: %v", err)
	}
	if h := restored.Health(); h[0].Uses+h[1].Uses != 1 {
		t.Fatalf("restored phone health %+v", h)
	}
	// The number's flow was armed with the PIN for the call, and disarmed.
	w.flows.mu.Lock()
	arms, disarms, armed := w.flows.arms, w.flows.disarms, len(w.flows.armed)
	w.flows.mu.Unlock()
	if arms != 1 || disarms != 1 || armed != 0 {
		t.Fatalf("answerer: %d arms, %d disarms, %d numbers still armed", arms, disarms, armed)
	}
	// Vend, release: the console closure closes it.
	now := time.Now()
	l, err := w.store.LeaseCreate(context.Background(), &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: "managers",
		Owner: "ci", Now: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil || l.AWSAccountID != a.AWSAccountID {
		t.Fatalf("vend: %v", err)
	}
	storetest.EndLease(context.Background(), w.store, l.ID, ovm.LeaseReleased, w.pol.Retire, "key:test", now)
	w.run(2*time.Minute, "the account closed", func(x *ovm.Account) bool { return x.ID == a.ID && x.State == ovm.AccountClosed })
	if r := w.rep.Accounts()[0]; !r.Closed || !r.TaxInheritance {
		t.Fatalf("the replica shows closed=%v, tax inheritance=%v", r.Closed, r.TaxInheritance)
	}
}

func TestACrashInTheMiddleResumesAtTheFailedStep(t *testing.T) {
	w := newWorld(t, "4111 1111 1111 1111")
	w.rep.FailOnce("payment") // the payment page errors once
	// Run until the sign-up passed the contact page, then "crash": the
	// browsers and the provider are gone, the store and profiles stay.
	a := w.run(2*time.Minute, "the payment step", func(a *ovm.Account) bool {
		return a.Attempts > 0
	})
	if !strings.Contains(a.LastError, "evidence:") || len(evidenceDirs(t, w.dir, a.ID)) == 0 {
		t.Fatalf("the failed step kept no evidence: %q", a.LastError)
	}
	// The provider lists it (API, web console) and reads its screenshot.
	recs, err := w.prov.Evidence(context.Background(), a.ID)
	if err != nil || len(recs) == 0 || !strings.Contains(recs[0].Name, "-signup-payment") {
		t.Fatalf("evidence records: %+v %v", recs, err)
	}
	if shot, err := w.prov.EvidenceFile(context.Background(), a.ID, recs[0].Name, "screenshot.jpg"); err != nil || len(shot) < 3 || shot[0] != 0xFF || shot[1] != 0xD8 {
		t.Fatalf("the screenshot is not a JPEG: %d bytes, %v", len(shot), err)
	}
	w.prov.Shutdown()
	w.start("4111 1111 1111 1111")
	a = w.run(3*time.Minute, "a ready account after the restart", func(a *ovm.Account) bool {
		if a.State == ovm.AccountQuarantined {
			t.Fatalf("quarantined: %s", a.LastError)
		}
		return a.State == ovm.AccountReady
	})
	steps := w.rep.Accounts()[0].Steps
	if strings.Join(steps, ",") != "start,verify,password,contact,payment,identity,pin,support" {
		t.Fatalf("pages submitted %v: a resumed sign-up must not repeat a page", steps)
	}
}

func TestAChangedPageFailsWithEvidenceAndAFlowFileChangeRepairsIt(t *testing.T) {
	cases := []struct {
		variant replica.Variant
		fix     func(flow string) string
	}{
		{replica.RenamedField, func(f string) string {
			return strings.Replace(f, "label: Root user email address, value", "label: Email address for the root user, value", 1)
		}},
		{replica.MovedCaptcha, func(f string) string {
			return strings.Replace(f, "        - click: {role: button, name: Verify email address}",
				"        - captcha: {image: captcha image, audio: Play audio, answer: Type the characters shown}\n        - click: {role: button, name: Verify email address}", 1)
		}},
		{replica.ExtraStep, func(f string) string {
			return strings.Replace(f, "    - name: payment\n", `    - name: goals
      page: Tell us about your goals
      actions:
        - check: {label: Learn and explore}
        - click: {role: button, name: Continue}
    - name: payment
`, 1)
		}},
	}
	for _, c := range cases {
		t.Run(string(c.variant), func(t *testing.T) {
			w := newWorld(t, "4111 1111 1111 1111")
			w.rep.SetVariant(c.variant)
			a := w.run(2*time.Minute, "quarantine", func(a *ovm.Account) bool { return a.State == ovm.AccountQuarantined })
			if !strings.Contains(a.LastError, "evidence:") || len(evidenceDirs(t, w.dir, a.ID)) == 0 {
				t.Fatalf("no evidence: %q", a.LastError)
			}
			// A copy is in S3, named in the error.
			if !strings.Contains(a.LastError, "s3://ovm-evidence/evidence/"+a.ID+"/") {
				t.Fatalf("no S3 copy named: %q", a.LastError)
			}
			objs, err := w.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("ovm-evidence"),
				Prefix: aws.String("evidence/" + a.ID + "/")})
			files := map[string]bool{}
			for _, o := range objs.Contents {
				files[path.Base(aws.ToString(o.Key))] = true
			}
			if err != nil || !files["screenshot.jpg"] || !files["page.html"] || !files["step.log"] {
				t.Fatalf("evidence in S3: %v, %v", files, err)
			}
			// The operator edits the flow file and retries the account.
			flow, _ := os.ReadFile(w.flow)
			fixed := c.fix(string(flow))
			if fixed == string(flow) {
				t.Fatal("the fix changed nothing")
			}
			os.WriteFile(w.flow, []byte(fixed), 0o600)
			u, err := ovm.RetryAccount(a, "key:operator", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			w.store.AccountUpdate(context.Background(), u)
			w.run(3*time.Minute, "a ready account after the repair", func(x *ovm.Account) bool {
				if x.State == ovm.AccountQuarantined && x.Version > u.Account.Version {
					t.Fatalf("quarantined again: %s", x.LastError)
				}
				return x.ID == a.ID && x.State == ovm.AccountReady
			})
		})
	}
}

func TestAFailedBurialFallsBackToTheConsole(t *testing.T) {
	w := newWorld(t, "4111 1111 1111 1111")
	buried := 0
	w.prov.Shutdown()
	w.startWith("4111 1111 1111 1111", func(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) {
		buried++
		return ovm.Failed("account is a member of another organization"), nil
	})
	a := w.run(3*time.Minute, "a ready account", func(a *ovm.Account) bool { return a.State == ovm.AccountReady })
	u, _ := ovm.RetireAccount(a, "key:admin", time.Now())
	w.store.AccountUpdate(context.Background(), u)
	w.run(2*time.Minute, "the console closure", func(x *ovm.Account) bool { return x.ID == a.ID && x.State == ovm.AccountClosed })
	if buried != 1 || !w.rep.Accounts()[0].Closed {
		t.Fatalf("burial tried %d times; replica closed=%v", buried, w.rep.Accounts()[0].Closed)
	}
}

// A root password missing from the vault (a lost or older vault) is reset
// through the e-mailed link before the console closure; the new password
// is the one in the vault.
func TestAMissingRootPasswordIsResetByEmailBeforeTheConsoleClosure(t *testing.T) {
	w := newWorld(t, "4111 1111 1111 1111")
	a := w.run(3*time.Minute, "a ready account", func(a *ovm.Account) bool { return a.State == ovm.AccountReady })
	replicaAccount := func() replica.Account {
		for _, r := range w.rep.Accounts() {
			if r.ID == a.AWSAccountID {
				return r
			}
		}
		t.Fatalf("account %s is not in the replica", a.AWSAccountID)
		return replica.Account{}
	}
	old := replicaAccount().Password
	// The vault is lost: OVM restarts with an empty one.
	w.prov.Shutdown()
	w.vault = &vault.File{Path: filepath.Join(w.dir, "vault2.json"), KeyPath: filepath.Join(w.dir, "vault2.key")}
	w.start("4111 1111 1111 1111")
	u, _ := ovm.RetireAccount(a, "key:admin", time.Now())
	w.store.AccountUpdate(context.Background(), u)
	closed := w.run(3*time.Minute, "the console closure after a reset", func(x *ovm.Account) bool {
		if x.State == ovm.AccountQuarantined {
			t.Fatalf("quarantined: %s", x.LastError)
		}
		return x.ID == a.ID && x.State == ovm.AccountClosed
	})
	r := replicaAccount()
	if !r.Closed || r.Resets != 1 || r.Password == old {
		t.Fatalf("replica: closed=%v resets=%d password changed=%v", r.Closed, r.Resets, r.Password != old)
	}
	if pw, err := w.vault.Get(context.Background(), "root-password/"+a.ID); err != nil || pw != r.Password {
		t.Fatalf("the new password is not the vault's: %v", err)
	}
	if closed.Progress["signup.reset"] != "done" {
		t.Fatalf("progress %v", closed.Progress)
	}
	for k, v := range closed.Progress {
		if strings.Contains(v, "token=") || v == r.Password {
			t.Fatalf("the reset link or the password is in the store (%s)", k)
		}
	}
}

// Without a reset section in the flow, a missing password is a clear
// failure, not a login with a made-up password.
func TestAMissingRootPasswordWithoutAResetSectionFailsClearly(t *testing.T) {
	w := newWorld(t, "4111 1111 1111 1111")
	a := w.run(3*time.Minute, "a ready account", func(a *ovm.Account) bool { return a.State == ovm.AccountReady })
	w.prov.Shutdown()
	f, _ := os.ReadFile(w.flow)
	os.WriteFile(w.flow, f[:strings.Index(string(f), "\nreset:")+1], 0o600)
	w.vault = &vault.File{Path: filepath.Join(w.dir, "vault2.json"), KeyPath: filepath.Join(w.dir, "vault2.key")}
	w.start("4111 1111 1111 1111")
	u, _ := ovm.RetireAccount(a, "key:admin", time.Now())
	w.store.AccountUpdate(context.Background(), u)
	q := w.run(time.Minute, "quarantine", func(x *ovm.Account) bool { return x.ID == a.ID && x.State == ovm.AccountQuarantined })
	if !strings.Contains(q.LastError, "no reset section") {
		t.Fatalf("last error %q", q.LastError)
	}
}

// The e-mail code can come over IMAP instead of SES-in-S3: the same flow,
// another inbox.
func TestTheEmailCodeComesOverIMAP(t *testing.T) {
	w := newWorldVia(t, "4111 1111 1111 1111", viaIMAP)
	a := w.run(3*time.Minute, "a ready account", func(a *ovm.Account) bool {
		if a.State == ovm.AccountQuarantined {
			t.Fatalf("quarantined: %s", a.LastError)
		}
		return a.State == ovm.AccountReady
	})
	objs, _ := w.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("ovm-mail")})
	if len(objs.Contents) != 0 || len(w.rep.Accounts()) != 1 || w.rep.Accounts()[0].ID != a.AWSAccountID {
		t.Fatalf("%d mails went to S3; replica accounts %+v", len(objs.Contents), w.rep.Accounts())
	}
}
