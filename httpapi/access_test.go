package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/storetest"
)

// leaseOf leases an account for key with body.
func (f *fixture) leaseOf(key, body string) client.Lease {
	f.t.Helper()
	var l client.Lease
	r := f.do("POST", "/v1/leases", key, body)
	if r.status != 201 {
		f.t.Fatalf("lease: %d %s", r.status, r.body)
	}
	r.json(f.t, &l)
	return l
}

func TestALesseeGetsCredentialsInThreeFormatsAndOnlyForItsActiveLease(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	l := f.leaseOf(f.user, `{"ttl": "30m"}`)
	path := "/v1/leases/" + l.ID + "/credentials"

	var c client.Credentials
	r := f.do("POST", path, f.user, "")
	r.json(t, &c)
	exp, _ := time.Parse(time.RFC3339, c.Expiration)
	if r.status != 200 || c.Version != 1 || !strings.HasPrefix(c.AccessKeyID, "ASIASIM") || !strings.HasPrefix(c.SecretAccessKey, "simulated-") ||
		c.SessionToken == "" || !c.Simulated || c.AccountID != l.AccountID || c.LeaseID != l.ID || c.SessionName != "ovm-alice" ||
		c.SourceIdentity != "alice" || !exp.Equal(f.clock.Now().Add(30*time.Minute)) || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("json credentials: %d %s", r.status, r.body)
	}

	var pc map[string]any
	f.do("POST", path+"?format=process", f.user, "").json(t, &pc)
	if len(pc) != 5 || pc["Version"] != 1.0 || pc["AccessKeyId"] == "" || pc["SecretAccessKey"] == "" || pc["SessionToken"] == "" || pc["Expiration"] == "" {
		t.Fatalf("process credentials: %v", pc)
	}

	r = f.do("POST", path+"?format=env", f.user, "")
	env := string(r.body)
	for _, v := range []string{"AWS_ACCESS_KEY_ID='ASIASIM", "AWS_SECRET_ACCESS_KEY='simulated-", "AWS_SESSION_TOKEN=",
		"AWS_CREDENTIAL_EXPIRATION=", "AWS_REGION='us-east-1'", "OVM_LEASE_ID='" + l.ID + "'", "OVM_ACCOUNT_ID='" + l.AccountID + "'"} {
		if !strings.Contains(env, "export "+v) {
			t.Fatalf("env credentials lack %s:\n%s", v, env)
		}
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("env content type %q", ct)
	}

	f.do("POST", path+"?format=yaml", f.user, "").wantError(t, 400, "invalid")
	f.do("POST", path, f.key("bob", ovm.RoleUser), "").wantError(t, 404, "not_found")
	if r := f.do("POST", path, f.admin, ""); r.status != 200 {
		t.Fatalf("an admin gets credentials of any lease: %d %s", r.status, r.body)
	}
	f.do("GET", path, f.user, "").wantError(t, 405, "method_not_allowed")

	// Every issue is an event on the lease: who and until when, never the
	// secret; nor is the secret in the log.
	evs, _, err := f.store.EventList(context.Background(), &ovm.EventListParams{LeaseID: l.ID})
	if err != nil {
		t.Fatal(err)
	}
	issued := 0
	for _, e := range evs {
		if strings.HasPrefix(e.Reason, "credentials issued to key:") {
			issued++
			if !strings.Contains(e.Reason, "until "+c.Expiration) && issued == 1 {
				t.Errorf("the event names no end: %q", e.Reason)
			}
		}
		if strings.Contains(e.Reason, c.SecretAccessKey) || strings.Contains(e.Reason, c.SessionToken) {
			t.Fatalf("an event holds a secret: %q", e.Reason)
		}
	}
	if issued != 4 { // json, process, env, admin (not the refused ones)
		t.Fatalf("%d credential events, want 4: %+v", issued, evs)
	}
	if strings.Contains(f.logBuf.String(), c.SecretAccessKey) || strings.Contains(f.logBuf.String(), c.SessionToken) {
		t.Fatal("the log holds a secret")
	}

	// Near its end a lease still gets a session of STS's minimum; an ended
	// one gets none.
	f.clock.Advance(25 * time.Minute)
	f.do("POST", path, f.user, "").json(t, &c)
	if exp, _ := time.Parse(time.RFC3339, c.Expiration); !exp.Equal(f.clock.Now().Add(ovm.MinSessionDuration)) {
		t.Fatalf("expiration %s, want STS's minimum", c.Expiration)
	}
	// Past its end, before the expirer ended it: no more access either.
	f.clock.Advance(5*time.Minute + time.Second)
	if msg := f.do("POST", path, f.user, "").wantError(t, 409, "conflict"); !strings.Contains(msg, "expired") {
		t.Fatalf("message %q", msg)
	}
	f.clock.Advance(-5*time.Minute - time.Second)
	f.do("DELETE", "/v1/leases/"+l.ID, f.user, "")
	msg := f.do("POST", path, f.user, "").wantError(t, 409, "conflict")
	if !strings.Contains(msg, "ended") {
		t.Fatalf("message %q", msg)
	}
	f.do("POST", "/v1/leases/"+l.ID+"/console", f.user, "").wantError(t, 409, "conflict")
}

func TestAConsoleURLIsPlainlySimulatedAndLandsOnlyOnTheConsole(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	l := f.leaseOf(f.user, `{}`)
	var a client.ConsoleAnswer
	r := f.do("POST", "/v1/leases/"+l.ID+"/console", f.user, `{"destination": "https://us-east-1.console.aws.amazon.com/s3/home"}`)
	r.json(t, &a)
	if r.status != 200 || !a.Simulated || !strings.HasPrefix(a.URL, "https://"+sim.SimulatedConsole+"/") || !a.ExpiresAt.Equal(l.ExpiresAt) {
		t.Fatalf("console: %d %s", r.status, r.body)
	}
	for _, bad := range []string{"http://console.aws.amazon.com/", "https://evil.example/console.aws.amazon.com",
		"https://console.aws.amazon.com.evil.example/", "https://user@console.aws.amazon.com/", "javascript:alert(1)"} {
		body, _ := json.Marshal(client.ConsoleRequest{Destination: bad})
		f.do("POST", "/v1/leases/"+l.ID+"/console", f.user, string(body)).wantError(t, 400, "invalid")
	}
	f.do("POST", "/v1/leases/"+l.ID+"/console", f.user, `{"destinaton": "x"}`).wantError(t, 400, "invalid")
}

func TestALeasesOwnPrincipalIsTrustedForTheLeaseOnly(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	for _, bad := range []string{"arn:aws:iam::123:role/ci", "arn:aws:iam::123456789012:root", "*",
		"arn:aws:iam::123456789012:role/", "arn:aws:sts::123456789012:assumed-role/ci/x", "arn:aws:iam::123456789012:group/ci"} {
		body, _ := json.Marshal(client.LeaseRequest{Principal: bad})
		f.do("POST", "/v1/leases", f.user, string(body)).wantError(t, 400, "invalid")
	}
	ci := "arn:aws:iam::210987654321:role/ci"
	l := f.leaseOf(f.user, `{"principal": "`+ci+`"}`)
	if l.Principal != ci {
		t.Fatalf("lease principal %q", l.Principal)
	}
	acct := simAccount(t, f.sim, l.AccountID)
	if len(acct.Trust) != 1 || acct.Trust[0] != ci {
		t.Fatalf("trust during the lease: %v", acct.Trust)
	}
	f.clock.Advance(time.Minute)
	var ended client.Lease
	f.do("DELETE", "/v1/leases/"+l.ID, f.user, "").json(t, &ended)
	f.fill()
	acct = simAccount(t, f.sim, l.AccountID)
	if len(acct.Trust) != 0 || !acct.DenyBefore.Equal(ended.EndedAt.Add(ovm.DefaultClockMargin)) || acct.Revocations != 1 {
		t.Fatalf("after the lease: trust %v, deny before %s (lease ended %s), %d revocations", acct.Trust, acct.DenyBefore, ended.EndedAt, acct.Revocations)
	}
	if f.sim.Session(l.AccountID, ended.EndedAt.Add(ovm.DefaultClockMargin-time.Second)) || !f.sim.Session(l.AccountID, ended.EndedAt.Add(ovm.DefaultClockMargin+time.Second)) {
		t.Fatal("the deny must cover sessions issued before the lease's end and the clock margin, and only those")
	}
}

func simAccount(t *testing.T, p *sim.Provider, awsID string) sim.Account {
	t.Helper()
	for _, a := range p.Accounts() {
		if a.ID == awsID {
			return a
		}
	}
	t.Fatalf("no simulated account %s", awsID)
	return sim.Account{}
}

func TestWhenAWSRefusesTheLesseeHearsWhyAndAPrincipalsLeaseIsNotKept(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	l := f.leaseOf(f.user, `{}`)
	f.sim.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op == sim.OpAccess {
			return errors.New("AccessDenied: the role does not trust the caller")
		}
		return nil
	})
	for _, path := range []string{"/credentials", "/console"} {
		r := f.do("POST", "/v1/leases/"+l.ID+path, f.user, "")
		msg := r.wantError(t, 503, "unavailable")
		if !strings.Contains(msg, "AccessDenied") || r.header.Get("Retry-After") == "" {
			t.Fatalf("%s: %q, Retry-After %q", path, msg, r.header.Get("Retry-After"))
		}
	}
	r := f.do("POST", "/v1/leases", f.user, `{"principal": "arn:aws:iam::210987654321:role/ci"}`)
	if msg := r.wantError(t, 503, "unavailable"); !strings.Contains(msg, "trust arn:aws:iam::210987654321:role/ci") {
		t.Fatalf("message %q", msg)
	}
	var page client.Page[client.Lease]
	f.do("GET", "/v1/leases?state=ended", f.user, "").json(t, &page)
	if len(page.Items) != 1 || page.Items[0].EndReason != "account_failed" || page.Items[0].Principal == "" {
		t.Fatalf("the lease whose principal could not be trusted: %+v", page.Items)
	}
}

// A lease that ends while STS makes its session hands out nothing: a
// session issued after the end would escape the revocation's deny.
func TestCredentialsOfALeaseThatEndedMeanwhileAreNotHandedOut(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	l := f.leaseOf(f.user, `{}`)
	f.sim.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op == sim.OpAccess {
			storetest.EndLease(context.Background(), f.store, l.ID, ovm.LeaseReleased, ovm.RetirePolicy{Mode: ovm.RetireClose}, "key:alice", f.clock.Now())
		}
		return nil
	})
	r := f.do("POST", "/v1/leases/"+l.ID+"/credentials", f.user, "")
	if msg := r.wantError(t, 409, "conflict"); !strings.Contains(msg, "ended while") {
		t.Fatalf("message %q", msg)
	}
	if strings.Contains(string(r.body), "simulated-secret") {
		t.Fatal("a secret was handed out")
	}
}

func TestTheCredentialsRouteTakesNoBodyAndOneFormat(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	l := f.leaseOf(f.user, `{}`)
	path := "/v1/leases/" + l.ID + "/credentials"
	f.do("POST", path, f.user, `{"duration": "12h"}`).wantError(t, 400, "invalid")
	f.do("POST", path, f.user, `garbage`).wantError(t, 400, "invalid")
	f.do("POST", path, f.user, `{"x": "`+strings.Repeat("a", 70<<10)+`"}`).wantError(t, 413, "too_large")
	f.do("POST", path+"?format=env&format=json", f.user, "").wantError(t, 400, "invalid")
	// A principal in another partition than the pool's accounts is refused
	// before a vend: it costs no account.
	var before client.Page[client.Lease]
	f.do("GET", "/v1/leases", f.user, "").json(t, &before)
	f.do("POST", "/v1/leases", f.user, `{"principal": "arn:aws-cn:iam::210987654321:role/ci"}`).wantError(t, 400, "invalid")
	var after client.Page[client.Lease]
	f.do("GET", "/v1/leases", f.user, "").json(t, &after)
	if len(after.Items) != len(before.Items) {
		t.Fatalf("a refused principal made a lease")
	}
}
