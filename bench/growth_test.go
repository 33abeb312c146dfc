package bench

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/internal/clocktest"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

var (
	growthLeases = flag.Int("growth-leases", 10000, "leases of BenchmarkStorageGrowth")
	growthKeep   = flag.String("growth-keep", "", "directory to keep BenchmarkStorageGrowth's database in")
)

// BenchmarkStorageGrowth measures what a busy pool leaves in the SQLite
// store: per lease, a vend, two credential issues and a release, and the
// vends an empty pool refused (misses, 5.5 per lease as in the 8-minute
// soak of issue 20: 36,096 misses for 6,498 leases), all by one key, on a
// recycling pool of the simulated AWS with an injected clock. It reports
// the database's bytes per 10,000 leases, its rows by table, and with
// -growth-retention (hours, 0 = none) the size after the retention ran.
func BenchmarkStorageGrowth(b *testing.B) {
	for range b.N {
		n := *growthLeases
		clock := clocktest.New(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		dir := b.TempDir()
		if *growthKeep != "" {
			dir = *growthKeep
		}
		st, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "ovm.db"))
		if err != nil {
			b.Fatal(err)
		}
		p, _ := sim.New(sim.Config{}, clock)
		pool := ovm.Pool{Name: "default", Provider: "sim", Stock: ovm.StockPolicy{Target: 4, Ceiling: 8},
			Retire: ovm.RetirePolicy{Mode: ovm.RetireRecycle}, Lease: ovm.LeasePolicy{MaxPerOwner: 8}}.WithDefaults()
		eng, err := engine.New(st, []engine.Pool{{Policy: pool, Provider: p}}, clock, slog.New(slog.NewTextHandler(io.Discard, nil)),
			engine.Config{BatchSize: 500, LeaderTTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		settle := func() {
			for range 20 {
				if err := eng.Tick(ctx); err != nil {
					b.Fatal(err)
				}
				clock.Advance(time.Second)
			}
		}
		settle()
		start := time.Now()
		for i := range n {
			l, _, err := eng.Vend(ctx, &engine.VendRequest{Pool: "default", Owner: "soak"})
			if err != nil {
				settle()
				if l, _, err = eng.Vend(ctx, &engine.VendRequest{Pool: "default", Owner: "soak"}); err != nil {
					b.Fatalf("lease %d: %v", i, err)
				}
			}
			for range 2 {
				if _, err := eng.Credentials(ctx, l, ovm.KeyActor("soak")); err != nil {
					b.Fatal(err)
				}
			}
			if l, err = st.LeaseGet(ctx, l.ID); err != nil { // as the API reads it before a release
				b.Fatal(err)
			}
			if _, err := eng.EndLease(ctx, l, ovm.LeaseReleased, ovm.KeyActor("soak")); err != nil {
				b.Fatal(err)
			}
			misses := 5 + i%2 // 5.5 per lease
			for range misses {
				if err := eng.RecordMiss(ctx, "default", "soak"); err != nil {
					b.Fatal(err)
				}
				clock.Advance(time.Second)
			}
			if i%4 == 3 {
				settle()
			}
		}
		took := time.Since(start)
		st.Close()
		db, wal := fileSize(b, filepath.Join(dir, "ovm.db")), fileSize(b, filepath.Join(dir, "ovm.db-wal"))
		b.ReportMetric(float64(db)/float64(n)*10000/(1<<20), "MiB/10k-leases")
		b.Logf("%d leases in %s: database %.1f MiB (and %.1f MiB of WAL) on disk", n, took.Round(time.Second),
			float64(db)/(1<<20), float64(wal)/(1<<20))
	}
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}
