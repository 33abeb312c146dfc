package bench

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/guardrail"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/provider/awsorgs"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

var guardVends = flag.Int("guard-vends", 50, "vends of each template in BenchmarkVendGuarded")

// BenchmarkVendGuarded is the vend latency of a guarded template against
// an unguarded one of the same organizations pool, on moto (issue 22).
// The stock is made first (real moto accounts, recorded ready), so a vend
// measures the store and, for the guarded template, the guard: its SCP
// looked up (made by the first vend only), the account's SCPs listed, the
// SCP attached, the guard recorded (guarded-first-ms is the first vend,
// which made the SCP; the guarded percentiles are of the others). The
// vends alternate between the two
// templates, one at a time (moto serves one request at a time), and none
// ends: no close quota limits the sample. moto attaches SCPs but enforces
// none, and answers from loopback: the difference is OVM's calls, not
// AWS's latency. moto takes about a second to make each account (it
// loads IAM's managed policies into it), so the default is 50 vends of
// each template, about two minutes in all.
func BenchmarkVendGuarded(b *testing.B) {
	ctx := context.Background()
	cfg := mototest.Require(b).Config()
	if _, err := organizations.NewFromConfig(cfg).CreateOrganization(ctx,
		&organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		b.Fatal(err)
	}
	st, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "ovm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	clock := ovm.SystemClock()
	p, err := awsorgs.New(awsorgs.Config{Pool: "members", EmailTemplate: "aws+{id}@example.com"}, awsorgs.NewClients(cfg), st, clock, log)
	if err != nil {
		b.Fatal(err)
	}
	// The stock: accounts made with CreateAccount directly (the provider's
	// create first looks for an earlier request among every account, which
	// on moto grows with the organization and is not what is measured).
	n := *guardVends
	orgs := organizations.NewFromConfig(cfg)
	stock := make([]*ovm.Account, 2*n)
	for i := range stock {
		now := clock.Now()
		id := ovm.NewID("acc", now)
		name, email := p.Reserve(id)
		a := ovm.NewPendingAccount(id, "members", name, email, now)
		out, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: &name, Email: &email})
		if err != nil {
			b.Fatalf("create %d: %v", i, err)
		}
		status, err := orgs.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{
			CreateAccountRequestId: out.CreateAccountStatus.Id})
		if err != nil || status.CreateAccountStatus.AccountId == nil {
			b.Fatalf("create %d: %+v %v", i, status, err)
		}
		awsID := *status.CreateAccountStatus.AccountId
		a.State, a.AWSAccountID, a.RoleARN = ovm.AccountReady, awsID, ovm.RoleARN(awsID, ovm.DefaultRoleName)
		stock[i] = a
	}
	if err := st.AccountImport(ctx, stock, "bench"); err != nil {
		b.Fatal(err)
	}
	lease := ovm.LeasePolicy{DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, MinTTL: time.Minute, MaxPerOwner: 5}
	guarded := ovm.Template{Name: "eu-only", Pool: "members", Lease: lease,
		Guardrails: ovm.Guardrails{Regions: []string{"eu-west-1"}, DenyActions: []string{"savingsplans:*"}}}
	d, err := guardrail.Check(guarded.Guardrails, guardrail.Options{ExemptRole: "OrganizationAccountAccessRole"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	guarded.GuardrailDocument, guarded.GuardrailVersion = d.JSON(), d.Hash()
	plain := ovm.Template{Name: "plain", Pool: "members", Lease: lease}
	pool := ovm.Pool{Name: "members", Provider: "organizations", Stock: ovm.StockPolicy{Target: 1, Ceiling: 2*n + 1, MaxInFlight: 5},
		Lease: ovm.LeasePolicy{MaxPerOwner: 5, DefaultTTL: time.Hour, MaxTTL: 4 * time.Hour}}.WithDefaults()
	eng, err := engine.New(st, []engine.Pool{{Policy: pool, Provider: p}}, clock, log,
		engine.Config{Instance: "bench", Templates: []ovm.Template{guarded, plain}})
	if err != nil {
		b.Fatal(err)
	}
	vend := func(template string, i int) time.Duration {
		owner := fmt.Sprintf("%s-%d", template, i)
		start := time.Now()
		l, _, err := eng.Vend(ctx, &engine.VendRequest{Template: template, Owner: owner, Requester: ovm.Requester{Kind: "key", Name: owner}})
		took := time.Since(start)
		if err != nil {
			b.Fatalf("vend %d of %s: %v", i, template, err)
		}
		if template == guarded.Name {
			if a, err := st.AccountGet(ctx, l.AccountID); err != nil || !ovm.Guarded(a) {
				b.Fatalf("lease %s's account is not guarded: %v", l.ID, err)
			}
		}
		return took
	}
	var withGuard, without []time.Duration
	b.ResetTimer()
	for i := range n {
		withGuard = append(withGuard, vend(guarded.Name, i))
		without = append(without, vend(plain.Name, i))
	}
	b.StopTimer()
	// The first guarded vend made the SCP: reported apart, the percentiles
	// are of the vends that found it.
	first := withGuard[0]
	withGuard = withGuard[1:]
	pct := func(d []time.Duration, q int) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[len(s)*q/100].Microseconds()) / 1000
	}
	b.ReportMetric(pct(withGuard, 50), "guarded-p50-ms")
	b.ReportMetric(pct(withGuard, 99), "guarded-p99-ms")
	b.ReportMetric(float64(first.Microseconds())/1000, "guarded-first-ms")
	b.ReportMetric(pct(without, 50), "plain-p50-ms")
	b.ReportMetric(pct(without, 99), "plain-p99-ms")
	b.ReportMetric(0, "ns/op")
}
