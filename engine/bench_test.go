package engine_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

// BenchmarkTick is one engine tick (expire, plan, run) over a store of
// 1,000 or 100,000 accounts of which 10 are due: the cost must follow the
// due work, not the table. The history is closed accounts and a few
// hundred active leases; the 10 due accounts are creations the simulated
// AWS keeps in progress, polled once per tick.
func BenchmarkTick(b *testing.B) {
	for _, total := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("accounts=%d", total), func(b *testing.B) {
			ctx := context.Background()
			clock := clocktest.New(t0)
			s, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "ovm.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var accts []*ovm.Account
			for i := range total - 10 {
				id := ovm.NewID("acc", t0)
				a := ovm.NewPendingAccount(id, "default", "n-"+id, id+"@x", t0)
				a.AWSAccountID = fmt.Sprintf("%012d", 100000000000+i)
				a.State = ovm.AccountClosed
				if i%200 == 0 {
					a.State, a.RoleARN = ovm.AccountReady, ovm.RoleARN(a.AWSAccountID, "R")
				}
				accts = append(accts, a)
			}
			if err := s.AccountImport(ctx, accts, "bench"); err != nil {
				b.Fatal(err)
			}
			for range total / 400 { // active leases that are not due
				if _, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", t0), Pool: "default",
					Owner: "o", Now: t0, ExpiresAt: t0.Add(24 * time.Hour)}); err != nil {
					b.Fatal(err)
				}
			}
			p, _ := sim.New(sim.Config{CreateLatency: 1000 * time.Hour}, clock)
			pol := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 0, Ceiling: total}}.WithDefaults()
			eng, err := engine.New(s, []engine.Pool{{Policy: pol, Provider: p}}, clock,
				slog.New(slog.NewTextHandler(io.Discard, nil)), engine.Config{Instance: "bench", MaxPoll: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			for range 10 {
				id := ovm.NewID("acc", t0)
				if err := s.AccountInsert(ctx, ovm.NewPendingAccount(id, "default", "n-"+id, id+"@x", t0), "bench"); err != nil {
					b.Fatal(err)
				}
			}
			eng.Tick(ctx) // pending -> creating; from now on 10 polls per tick
			b.ResetTimer()
			for range b.N {
				clock.Advance(time.Minute)
				if err := eng.Tick(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			due, _ := s.AccountListDue(ctx, &ovm.AccountListDueParams{Now: clock.Now().Add(time.Minute), Limit: 100})
			if len(due) != 10 {
				b.Fatalf("%d accounts due, want 10", len(due))
			}
		})
	}
}
