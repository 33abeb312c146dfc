package httpapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/httpapi"
	"github.com/ovmdev/ovm/provider/sim"
)

// Once expires_at has passed, a lease is over for every route, even before
// the expirer ran: it is not brought back by an extension, gives no
// credentials nor console, and a release ends it as expired.
func TestALeaseWhoseTimeIsUpIsOverForEveryRoute(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	l := f.leaseOf(f.user, `{"ttl": "1h"}`)
	f.clock.Set(l.ExpiresAt.Add(10 * time.Millisecond)) // the expirer has not run
	path := "/v1/leases/" + l.ID
	if msg := f.do("PATCH", path, f.user, `{"extend_by": "1h"}`).wantError(t, 409, "conflict"); !strings.Contains(msg, "expired") {
		t.Fatalf("extend: %q", msg)
	}
	if msg := f.do("PATCH", path, f.admin, `{"expires_at": "`+l.ExpiresAt.Add(time.Hour).Format(time.RFC3339)+`"}`).wantError(t, 409, "conflict"); !strings.Contains(msg, "expired") {
		t.Fatalf("extend by an admin: %q", msg)
	}
	for _, p := range []string{"/credentials", "/console"} {
		r := f.do("POST", path+p, f.user, "")
		r.wantError(t, 409, "conflict")
		if strings.Contains(string(r.body), "simulated-secret") || strings.Contains(string(r.body), "SigninToken") {
			t.Fatalf("%s handed out access: %s", p, r.body)
		}
	}
	var got client.Lease
	f.do("GET", path, f.user, "").json(t, &got)
	if got.State != "active" || !got.ExpiresAt.Equal(l.ExpiresAt) {
		t.Fatalf("the refused routes changed the lease: %+v", got)
	}
	r := f.do("DELETE", path, f.user, "")
	r.json(t, &got)
	if r.status != 200 || got.State != "ended" || got.EndReason != "expired" {
		t.Fatalf("release after the expiry: %d %+v", r.status, got)
	}
	a, _ := f.store.AccountGet(context.Background(), l.AccountID)
	if a.State != ovm.AccountClosing {
		t.Fatalf("the account of the ended lease is %s", a.State)
	}
}

// iamRefusal is the error IAM answers for a trust policy naming a principal
// that does not exist.
type iamRefusal struct{}

func (iamRefusal) Error() string     { return "MalformedPolicyDocument: Invalid principal in policy" }
func (iamRefusal) ErrorCode() string { return "MalformedPolicyDocument" }

// A principal IAM refuses costs no account: the lease ends as refused and
// its account is back in stock, to be vended next.
func TestAPrincipalIAMRefusesCostsNoAccount(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	ready := func() int {
		c, err := f.store.PoolCounts(context.Background(), "default")
		if err != nil {
			t.Fatal(err)
		}
		return c.ByState[ovm.AccountReady]
	}
	before := ready()
	f.sim.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op == sim.OpAccess {
			return iamRefusal{}
		}
		return nil
	})
	r := f.do("POST", "/v1/leases", f.user, `{"principal": "arn:aws:iam::210987654321:role/does-not-exist"}`)
	if msg := r.wantError(t, 400, "invalid"); !strings.Contains(msg, "IAM refused") {
		t.Fatalf("message %q", msg)
	}
	var page client.Page[client.Lease]
	f.do("GET", "/v1/leases?state=ended", f.user, "").json(t, &page)
	if len(page.Items) != 1 || page.Items[0].EndReason != "refused" {
		t.Fatalf("the refused lease: %+v", page.Items)
	}
	if got := ready(); got != before {
		t.Fatalf("ready stock %d after a refused principal, want %d", got, before)
	}
	a, err := f.store.AccountGet(context.Background(), page.Items[0].AccountID)
	if err != nil || a.State != ovm.AccountReady || a.Generation != 0 {
		t.Fatalf("the refused lease's account: %+v %v", a, err)
	}
	if _, pending := ovm.PendingRevocation(a); pending {
		t.Fatal("a revocation is pending on an account that gave no access")
	}
	// A transient failure is not a refusal: that account is retired.
	f.sim.SetHook(func(op sim.Op, _ *ovm.Account) error {
		if op == sim.OpAccess {
			return errors.New("ThrottlingException: rate exceeded")
		}
		return nil
	})
	f.do("POST", "/v1/leases", f.user, `{"principal": "arn:aws:iam::210987654321:role/ci"}`).wantError(t, 503, "unavailable")
	f.do("GET", "/v1/leases?state=ended", f.user, "").json(t, &page)
	reasons := map[string]string{}
	for _, l := range page.Items {
		reasons[l.Principal] = l.EndReason
	}
	if len(page.Items) != 2 || reasons["arn:aws:iam::210987654321:role/ci"] != "account_failed" {
		t.Fatalf("after a transient failure: %+v", page.Items)
	}
}
