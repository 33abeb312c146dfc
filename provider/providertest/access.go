package providertest

// This file holds the cases of ovm.Access: a lessee's credentials, the
// console sign-in, a lease's own principal granted, and the revocation at
// the lease's end.

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// AccessHarness shows the suite what a provider's ovm.Access did in the
// account, as far as the backend can show it (moto keeps IAM documents but
// never evaluates them; the simulation keeps its own record).
type AccessHarness struct {
	// Now is the clock the backend issues sessions by: the harness's
	// fake clock for a simulation, the wall clock for moto.
	Now func() time.Time
	// Trusted returns the principals a's vended role trusts now.
	Trusted func(ctx context.Context, a *ovm.Account) ([]string, error)
	// Denied reports whether a session of a's vended role issued at
	// issued is denied now.
	Denied func(ctx context.Context, a *ovm.Account, issued time.Time) (bool, error)
	// Account returns the AWS account credentials act in (STS's
	// GetCallerIdentity with them). Nil only for credentials that open
	// nothing: the suite then requires them to be marked Simulated.
	Account func(ctx context.Context, c *ovm.Credentials) (string, error)
	// SignIn follows a console sign-in URL as a browser would and returns
	// the page it lands on.
	SignIn func(ctx context.Context, signinURL string) (string, error)
}

var accessTests = []testCase{
	{"access: a lessee's credentials are a session of the vended role, no longer than asked and no shorter than STS's 15 minutes", testCredentials},
	{"access: a console URL signs the lessee in where asked and carries no secret", testConsoleURL},
	{"access: a granted principal is trusted until the revocation, which denies the lease's sessions and resets the trust", testGrantRevoke},
}

// principal is the lease's own principal the suite grants.
const principal = "arn:aws:iam::210987654321:role/ovm-conformance"

const lessee = "conformance/ci job"

func revokeStep(acc ovm.Access, r ovm.Revocation) step {
	return func(ctx context.Context, a *ovm.Account) (ovm.StepResult, error) { return acc.Revoke(ctx, a, r) }
}

// session issues a lessee's credentials for a lease with d left.
func session(t *testing.T, h *Harness, a *ovm.Account, d time.Duration) *ovm.Credentials {
	t.Helper()
	c, err := h.Provider.(ovm.Access).Credentials(context.Background(), a, ovm.SessionRequest{LeaseID: "lse_conformance", Owner: lessee, Duration: d})
	if err != nil {
		t.Fatalf("credentials for %s: %v", d, err)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		t.Fatalf("credentials %v lack a part", c)
	}
	return c
}

// opens checks that c act in a's account.
func opens(t *testing.T, h *Harness, a *ovm.Account, c *ovm.Credentials) {
	t.Helper()
	if h.Access.Account == nil {
		if !c.Simulated {
			t.Fatalf("the harness cannot check credentials %v, and they are not marked simulated", c)
		}
		return
	}
	got, err := h.Access.Account(context.Background(), c)
	if err != nil || got != a.AWSAccountID {
		t.Fatalf("the credentials act in account %q (%v), want %s", got, err, a.AWSAccountID)
	}
}

func testCredentials(t *testing.T, h *Harness) {
	a := ready(t, h)
	// The backend's expiry may be whole seconds.
	const grain = time.Second
	for _, asked := range []time.Duration{time.Minute, 30 * time.Minute, 10 * time.Hour} {
		before := h.Access.Now()
		c := session(t, h, a, asked)
		after := h.Access.Now()
		if c.SessionName != ovm.SessionName(lessee) || c.SourceIdentity != ovm.SourceIdentity(lessee) {
			t.Fatalf("session %q, source identity %q: not the lessee %q", c.SessionName, c.SourceIdentity, lessee)
		}
		if earliest := before.Add(ovm.MinSessionDuration - grain); c.Expiration.Before(earliest) {
			t.Fatalf("asked %s: expires at %s, sooner than STS's 15 minutes (%s)", asked, c.Expiration, earliest)
		}
		if latest := after.Add(max(asked, ovm.MinSessionDuration) + grain); c.Expiration.After(latest) {
			t.Fatalf("asked %s: expires at %s, later than asked (%s)", asked, c.Expiration, latest)
		}
		opens(t, h, a, c)
	}
}

func testConsoleURL(t *testing.T, h *Harness) {
	a := ready(t, h)
	c := session(t, h, a, 30*time.Minute)
	const dest = "https://console.aws.amazon.com/ec2/home?region=eu-west-1"
	u, err := h.Provider.(ovm.Access).ConsoleURL(context.Background(), c, dest, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := url.ParseRequestURI(u); err != nil {
		t.Fatalf("the console URL %q does not parse: %v", u, err)
	}
	for _, secret := range []string{c.SecretAccessKey, c.SessionToken} {
		if strings.Contains(u, secret) || strings.Contains(u, url.QueryEscape(secret)) {
			t.Fatal("the console URL carries a secret part of the credentials")
		}
	}
	landed, err := h.Access.SignIn(context.Background(), u)
	if err != nil || landed != dest {
		t.Fatalf("the sign-in landed on %q (%v), want %q", landed, err, dest)
	}
}

func testGrantRevoke(t *testing.T, h *Harness) {
	ctx := context.Background()
	acc := h.Provider.(ovm.Access)
	a := ready(t, h)
	trusted := func() []string {
		t.Helper()
		p, err := h.Access.Trusted(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	denied := func(issued time.Time) bool {
		t.Helper()
		d, err := h.Access.Denied(ctx, a, issued)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	own := trusted()
	if slices.Contains(own, principal) {
		t.Fatalf("a fresh account's role trusts %s already", principal)
	}
	// The lease: its principal is trusted besides the pool's own; a
	// second grant (a retried request) changes nothing.
	for range 2 {
		if err := acc.Grant(ctx, a, principal); err != nil {
			t.Fatal(err)
		}
	}
	if got := trusted(); !sameSet(got, append(slices.Clone(own), principal)) {
		t.Fatalf("during the lease the role trusts %v, want %v and %s", got, own, principal)
	}
	opens(t, h, a, session(t, h, a, time.Hour))
	// The lease ended two seconds ago, in the middle of a second.
	end := h.Access.Now().Add(-2 * time.Second).Truncate(time.Second).Add(500 * time.Millisecond)
	if denied(end.Add(-time.Minute)) {
		t.Fatal("a session of the lease is denied before the revocation")
	}
	rev := ovm.Revocation{LeaseID: "lse_conformance", Before: end, Principal: principal}
	for i := range 2 { // a second run converges on what the first did
		if r := drive(t, h, a, revokeStep(acc, rev)); r.Status != ovm.StepDone {
			t.Fatalf("revoke #%d: %+v", i+1, r)
		}
	}
	if got := trusted(); !sameSet(got, own) {
		t.Fatalf("after the revocation the role trusts %v, want the pool's own %v", got, own)
	}
	for _, issued := range []time.Time{end.Add(-time.Minute), end.Add(-time.Millisecond)} {
		if !denied(issued) {
			t.Fatalf("a session issued at %s, before the lease's end %s, is not denied", issued, end)
		}
	}
	// The deny names whole seconds: a session issued in the lease's last
	// second is denied too, the next lease's sessions are not.
	if denied(end.Add(time.Second)) || denied(h.Access.Now()) {
		t.Fatalf("sessions issued after the lease's end %s are denied", end)
	}
	opens(t, h, a, session(t, h, a, time.Hour))
}
