package httpapi_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/httpapi"
)

// spendOn records that lease l ran an instance at usdPerHour from its start.
func (f *fixture) spendOn(l *client.Lease, usdPerHour float64) {
	f.t.Helper()
	stored, err := f.store.LeaseGet(context.Background(), l.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	g := ovm.NewSpendLedger(stored)
	g.Apply("ev-"+l.ID, []*ovm.SpendChange{{At: stored.CreatedAt, Action: ovm.SpendStart, Type: "ec2.instance", Region: "us-east-1",
		ID: "i-" + l.ID, Size: "m5.large", USDPerHour: usdPerHour}})
	g.Version, g.UpdatedAt = 1, f.clock.Now()
	if err := f.store.SpendPut(context.Background(), g); err != nil {
		f.t.Fatal(err)
	}
}

func TestALeaseShowsItsSpendAndTheReportGroupsIt(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	f.fill()
	bob := f.key("bob", ovm.RoleUser)
	var mine, his client.Lease
	f.do("POST", "/v1/leases", f.user, `{}`).json(t, &mine)
	f.do("POST", "/v1/leases", bob, `{}`).json(t, &his)
	f.spendOn(&mine, 1)
	f.spendOn(&his, 3)
	g, _ := f.store.SpendGet(context.Background(), mine.ID)
	g.AddError(f.clock.Now(), "sweep", "eu-west-1: AccessDenied")
	g.Version++
	if err := f.store.SpendPut(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)

	var got client.Lease
	f.do("GET", "/v1/leases/"+mine.ID, f.user, "").json(t, &got)
	if got.Spend == nil || got.Spend.USD != 2 || got.Spend.BurnUSDPerHour != 1 || got.Spend.AsOf.IsZero() || len(got.Spend.Errors) != 1 {
		t.Fatalf("lease spend %+v, want 2 USD at 1 USD/h", got.Spend)
	}

	var rep client.SpendReport
	f.do("GET", "/v1/spend?group_by=owner", f.admin, "").json(t, &rep)
	if len(rep.Groups) != 2 || rep.Groups[0].Key != "bob" || rep.Groups[0].USD != 6 || rep.Groups[1].USD != 2 {
		t.Fatalf("admin report %+v, want bob 6 then alice 2", rep.Groups)
	}
	f.do("GET", "/v1/spend?group_by=owner", f.user, "").json(t, &rep)
	if len(rep.Groups) != 1 || rep.Groups[0].Key != "alice" {
		t.Fatalf("alice's report %+v shows others' leases", rep.Groups)
	}
	r := f.do("GET", "/v1/spend?group_by=pool", f.admin, "", "Accept", "text/csv")
	rows, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
	if err != nil || r.header.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != 2 || rows[1][0] != "default" || rows[1][2] != "8.0000" {
		t.Fatalf("CSV %q (%v)", r.body, err)
	}
	// A window before the leases holds nothing of them.
	f.do("GET", "/v1/spend?to=2026-01-01", f.admin, "").json(t, &rep)
	if len(rep.Groups) != 0 {
		t.Fatalf("a window before the leases shows %+v", rep.Groups)
	}
	for _, q := range []string{"group_by=account", "from=yesterday", "from=2026-12-01&to=2026-11-01", "from=2020-01-01&to=2026-01-01"} {
		f.do("GET", "/v1/spend?"+q, f.admin, "").wantError(t, http.StatusBadRequest, "invalid")
	}
}

func TestAReportCellCannotBeAFormula(t *testing.T) {
	f := newFixture(t, httpapi.Config{})
	// An OIDC name is the issuer's to choose, and may begin with =.
	g := ovm.NewSpendLedger(&ovm.Lease{ID: "lse_x", Owner: `=HYPERLINK("http://x")`, Pool: "default", CreatedAt: t0})
	g.Version = 1
	if err := f.store.SpendPut(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	r := f.do("GET", "/v1/spend?group_by=owner", f.admin, "", "Accept", "text/csv")
	if !strings.Contains(string(r.body), `'=HYPERLINK`) {
		t.Fatalf("CSV %q: the owner's name is a formula", r.body)
	}
}
