package httpapi_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/httpapi"
)

// The attack of issue 20: a lessee issued 1,100 credentials in a second,
// then released its lease, and the account's view showed only the oldest
// 1,000 events, hiding the release. Issues are limited per lease now (429
// with Retry-After), and every view of a log shows the newest first.
func TestALesseeCannotHideTheEndOfItsLease(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	l := f.leaseOf(f.user, `{}`)
	path := "/v1/leases/" + l.ID
	issued, limited := 0, 0
	for i := range 30 {
		p := path + "/credentials"
		if i%2 == 1 {
			p = path + "/console"
		}
		r := f.do("POST", p, f.user, "")
		switch r.status {
		case 200:
			issued++
		case 429:
			limited++
			msg := r.wantError(t, 429, "limit_exceeded")
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 || !strings.Contains(msg, "api.access_issues") {
				t.Fatalf("429: Retry-After %q, %q", r.header.Get("Retry-After"), msg)
			}
		default:
			t.Fatalf("issue %d: %d %s", i, r.status, r.body)
		}
	}
	if issued != 10 || limited != 20 {
		t.Fatalf("%d issued and %d refused in a burst of 30, want 10 and 20", issued, limited)
	}
	f.clock.Advance(time.Minute)
	if r := f.do("POST", path+"/credentials", f.user, ""); r.status != 200 {
		t.Fatalf("a minute later: %d %s", r.status, r.body)
	}
	f.do("DELETE", path, f.user, "")
	var page client.Page[client.Event]
	f.do("GET", path+"/events?limit=2", f.user, "").json(t, &page)
	if len(page.Items) != 2 || page.NextCursor == "" || page.Items[0].To != "closing" || page.Items[1].To != "ended" {
		t.Fatalf("the lease's newest events (the account's move and the lease's end, one write): %+v", page)
	}
	var acct client.Account
	f.do("GET", "/v1/accounts/"+l.OVMAccountID, f.admin, "").json(t, &acct)
	if len(acct.Events) == 0 || acct.Events[0].To != "closing" || acct.EventsNextCursor != "" && len(acct.Events) != 100 {
		t.Fatalf("the account's newest event: %+v", acct.Events[:min(len(acct.Events), 2)])
	}
	access := 0
	for _, e := range acct.Events {
		if e.Kind == "access" {
			access++
		}
	}
	if access != 11 {
		t.Fatalf("%d access events on the account, want the 11 issued", access)
	}
	// Another owner sees nothing of the lease's log.
	other := f.key("mallory", "user")
	f.do("GET", path+"/events", other, "").wantError(t, 404, "not_found")
}
