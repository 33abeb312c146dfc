package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/httpapi"
)

// allEvents returns the events of a lease, of its account and of the
// pool (misses), each once.
func (f *fixture) allEvents(l client.Lease) []*ovm.Event {
	f.t.Helper()
	var out []*ovm.Event
	seen := map[int64]bool{}
	for _, p := range []*ovm.EventListParams{{LeaseID: l.ID}, {AccountID: l.OVMAccountID}, {Pool: "default"}} {
		p.Limit = 1000
		ev, _, err := f.store.EventList(context.Background(), p)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, e := range ev {
			if !seen[e.Seq] {
				seen[e.Seq] = true
				out = append(out, e)
			}
		}
	}
	return out
}

func TestAnOIDCPrincipalIsAnOIDCActorInEveryEventItCauses(t *testing.T) {
	o := newOIDCFixture(t, httpapi.Config{})
	user := o.token(nil) // owner my-org/app
	admin := o.admins.Sign(nil, o.admins.Claims(oidcAudience, t0))
	const userActor, adminActor = "oidc:my-org/app", "oidc:repo:my-org/app:ref:refs/heads/main"

	// A vend the empty stock missed, then a lease and all a lessee does
	// with it, ended by an admin's token.
	o.do("POST", "/v1/leases", user, `{}`).wantError(t, 503, "unavailable")
	o.fill()
	l := o.leaseOf(user, `{}`)
	for _, r := range [][3]string{
		{"PATCH", "/v1/leases/" + l.ID, `{"extend_by":"30m"}`},
		{"POST", "/v1/leases/" + l.ID + "/credentials", ""},
		{"POST", "/v1/leases/" + l.ID + "/console", ""},
	} {
		if got := o.do(r[0], r[1], user, r[2]); got.status != 200 {
			t.Fatalf("%s %s: %d %s", r[0], r[1], got.status, got.body)
		}
	}
	if r := o.do("DELETE", "/v1/leases/"+l.ID, admin, ""); r.status != 200 {
		t.Fatalf("an admin's token ends the lease: %d %s", r.status, r.body)
	}
	// An API key's lease, for comparison.
	k := o.leaseOf(o.user, `{}`)

	seen := map[string]int{}
	for _, e := range o.allEvents(l) {
		if strings.Contains(e.Actor, "my-org") {
			seen[e.Actor]++
		}
		if strings.HasPrefix(e.Actor, "key:") && strings.ContainsAny(e.Actor[len("key:"):], "/:") {
			t.Errorf("a token's owner as a key: %+v", e)
		}
	}
	// The miss, the vend (lease and account), the extension, the
	// credentials and the console sign-in by the user; the end by the
	// admin (lease and account).
	if seen[userActor] != 6 || seen[adminActor] != 2 || len(seen) != 2 {
		t.Errorf("actors of the token's events: %v, want 6 × %s and 2 × %s", seen, userActor, adminActor)
	}
	keyActors := map[string]int{}
	for _, e := range o.allEvents(k) {
		if e.LeaseID == k.ID || e.AccountID == k.OVMAccountID {
			keyActors[e.Actor]++
		}
	}
	if keyActors["key:alice"] != 2 {
		t.Errorf("actors of the key's lease: %v, want the vend by key:alice (lease and account)", keyActors)
	}

	// The request log names the token's owner as a token too.
	var requests []string
	for _, line := range strings.Split(o.logBuf.String(), "\n") {
		if strings.Contains(line, `msg="http request"`) && strings.Contains(line, "my-org/app") {
			requests = append(requests, line)
		}
	}
	if len(requests) == 0 {
		t.Error("no request log line of the token")
	}
	for _, line := range requests {
		if !strings.Contains(line, "actor=oidc:") || strings.Contains(line, "key_name=") {
			t.Errorf("a request log line names the token as a key: %s", line)
		}
	}

	// An event stored before, naming the token's owner as a key, is read
	// and shown as it was written.
	old := &ovm.Event{Time: t0, Kind: ovm.EventLease, AccountID: l.OVMAccountID, LeaseID: l.ID, Pool: "default",
		Actor: "key:my-org/app", From: "active", To: "active", Reason: "extended (before oidc actors)"}
	if err := o.store.EventAppend(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	var a struct{ Events []client.Event }
	r := o.do("GET", "/v1/accounts/"+l.OVMAccountID, o.admin, "")
	if err := json.Unmarshal(r.body, &a); err != nil || r.status != 200 {
		t.Fatalf("account: %d %s", r.status, r.body)
	}
	found := false
	for _, e := range a.Events {
		found = found || e.Actor == "key:my-org/app" && e.Reason == old.Reason
	}
	if !found {
		t.Errorf("the stored old event is not shown as written: %+v", a.Events)
	}
}
