package httpapi_test

import (
	"bufio"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/httpapi"
)

// TestTheConsoleRouteRefusesEveryHostileDestination sends federation's
// table of destinations (testdata/destinations.txt there) through the
// route: each one to refuse is a 400 that issues nothing, each one to
// accept is a sign-in URL.
func TestTheConsoleRouteRefusesEveryHostileDestination(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	l := f.leaseOf(f.user, `{}`)
	file, err := os.Open("../federation/testdata/destinations.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	refused, accepted := 0, 0
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		verdict, quoted, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(verdict, "#") {
			continue
		}
		d, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(client.ConsoleRequest{Destination: d})
		r := f.do("POST", "/v1/leases/"+l.ID+"/console", f.user, string(body))
		switch verdict {
		case "refuse":
			if r.status != 400 {
				t.Errorf("%q: %d %s", d, r.status, r.body)
				continue
			}
			r.wantError(t, 400, "invalid")
			refused++
		case "accept":
			f.clock.Advance(time.Minute) // within the lease's rate of issues
			var a client.ConsoleAnswer
			if r.status != 200 || json.Unmarshal(r.body, &a) != nil || a.URL == "" {
				t.Errorf("%q: %d %s", d, r.status, r.body)
				continue
			}
			accepted++
		}
	}
	if refused < 70 || accepted < 10 {
		t.Fatalf("%d refused and %d accepted: the table is not there", refused, accepted)
	}
	// Only the sign-ins that were answered are events of the lease.
	got, _, err := f.store.EventList(t.Context(), &ovm.EventListParams{LeaseID: l.ID, PageParams: ovm.PageParams{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	issued := 0
	for _, e := range got {
		if strings.Contains(e.Reason, "console sign-in issued") {
			issued++
		}
	}
	if issued != accepted {
		t.Errorf("%d console sign-ins recorded for %d accepted destinations", issued, accepted)
	}
}
