package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// spendTests are the cases of the spend ledgers: one compare-and-set per
// write, so that each event is counted once however many writers race.
var spendTests = []testCase{
	{"a spend ledger is kept whole and read back", testSpendRoundTrip},
	{"a spend ledger write on a stale version changes nothing", testSpendConflict},
	{"writers racing on one event count it exactly once", testSpendEventCountedOnce},
	{"spend lists page by lease start and bound the window", testSpendList},
	{"only open ledgers are listed as open", testSpendListOpen},
	{"an owner's spend is listed without the others'", testSpendListOwner},
	{"final ledgers past the cutoff are pruned, no other", testSpendPrune},
}

func spendLedgerOf(id string, start time.Time) *ovm.SpendLedger {
	g := ovm.NewSpendLedger(&ovm.Lease{ID: id, AWSAccountID: "111122223333", Pool: "p1", Owner: "alice", Team: "platform", Template: "small", CreatedAt: start})
	g.Version = 1
	return g
}

func testSpendRoundTrip(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	if _, err := s.SpendGet(ctx, "l-none"); !errors.Is(err, ovm.ErrNotFound) {
		t.Fatalf("missing ledger: %v, want ErrNotFound", err)
	}
	g := spendLedgerOf("l-rt", T0)
	g.Apply("ev-1", []*ovm.SpendChange{{At: T0, Action: ovm.SpendStart, Type: "ec2.instance", Region: "eu-west-1", ID: "i-1", Size: "m5.large", USDPerHour: 0.107}})
	g.Report(T0.Add(time.Hour), map[string]float64{T0.Format(time.DateOnly): 0.5})
	g.AddError(T0, "events", "an event could not be read")
	g.Spend = g.Summarize(T0.Add(2 * time.Hour))
	if err := s.SpendPut(ctx, g); err != nil {
		t.Fatal(err)
	}
	got, err := s.SpendGet(ctx, "l-rt")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || len(got.Resources) != 1 || got.Resources[0].Size != "m5.large" || !got.HasSeen("ev-1") ||
		got.Reported[T0.Format(time.DateOnly)] != 0.5 || len(got.Errors) != 1 || got.Spend.USD != g.Spend.USD || got.Team != "platform" {
		t.Fatalf("read back %+v, wrote %+v", got, g)
	}
}

func testSpendConflict(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	g := spendLedgerOf("l-cf", T0)
	if err := s.SpendPut(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := s.SpendPut(ctx, g); !errors.Is(err, ovm.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	next := g.Clone()
	next.Version = 2
	next.Overflow = 7
	if err := s.SpendPut(ctx, next); err != nil {
		t.Fatal(err)
	}
	stale := g.Clone()
	stale.Version = 2
	stale.Overflow = 9
	if err := s.SpendPut(ctx, stale); !errors.Is(err, ovm.ErrConflict) {
		t.Fatalf("stale write: %v, want ErrConflict", err)
	}
	if got, _ := s.SpendGet(ctx, "l-cf"); got.Overflow != 7 || got.Version != 2 {
		t.Fatalf("stale write changed the ledger: %+v", got)
	}
}

// testSpendEventCountedOnce races writers that each apply the same events,
// as replicas that received one message twice do, read-apply-write with a
// retry on conflict: every event counts once.
func testSpendEventCountedOnce(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	if err := s.SpendPut(ctx, spendLedgerOf("l-once", T0)); err != nil {
		t.Fatal(err)
	}
	const writers, events = 6, 5
	var applied atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range events {
				id := fmt.Sprintf("ev-%d", (e+w)%events)
				for attempt := 0; ; attempt++ {
					g, err := s.SpendGet(ctx, "l-once")
					if err != nil {
						t.Error(err)
						return
					}
					if !g.Apply(id, []*ovm.SpendChange{{At: T0, Action: ovm.SpendStart, Type: "ec2.instance", Region: "eu-west-1", ID: id, Size: "t3.micro", USDPerHour: 1}}) {
						break
					}
					g.Version++
					err = s.SpendPut(ctx, g)
					if err == nil {
						applied.Add(1)
						break
					}
					if !errors.Is(err, ovm.ErrConflict) || attempt > 200 {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	g, err := s.SpendGet(ctx, "l-once")
	if err != nil {
		t.Fatal(err)
	}
	// A write whose answer was lost may be reported refused although it
	// was made (the retry then finds its event seen): what the store holds
	// is the measure, and no more writes than events may report success.
	if applied.Load() > events || len(g.Resources) != events || g.Version != events+1 {
		t.Fatalf("%d applies, %d resources, version %d; want each of %d events once", applied.Load(), len(g.Resources), g.Version, events)
	}
}

func testSpendList(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	for i := range 5 {
		g := spendLedgerOf(fmt.Sprintf("l-ls-%d", i), T0.Add(time.Duration(i)*time.Hour))
		if i == 0 {
			g.End(T0.Add(30 * time.Minute))
		}
		if err := s.SpendPut(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	ids := spendListIDs(t, s, &ovm.SpendListParams{PageParams: ovm.PageParams{Limit: 2}})
	if fmt.Sprint(ids) != "[l-ls-0 l-ls-1 l-ls-2 l-ls-3 l-ls-4]" {
		t.Fatalf("listed %v", ids)
	}
	// [T0+1h, T0+3h): l-ls-0 ended before, l-ls-3 and l-ls-4 start at or after.
	ids = spendListIDs(t, s, &ovm.SpendListParams{PageParams: ovm.PageParams{Limit: 1}, From: T0.Add(time.Hour), To: T0.Add(3 * time.Hour)})
	if fmt.Sprint(ids) != "[l-ls-1 l-ls-2]" {
		t.Fatalf("window listed %v, want [l-ls-1 l-ls-2]", ids)
	}
	if _, _, err := s.SpendList(ctx, &ovm.SpendListParams{PageParams: ovm.PageParams{Cursor: ovm.EncodeCursor(ovm.CursorLeases, "x")}}); ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Fatalf("another list's cursor: %v, want ErrInvalid", err)
	}
}

// spendListIDs pages through a spend list: the lease ids in order.
func spendListIDs(t *testing.T, s ovm.Store, p *ovm.SpendListParams) []string {
	t.Helper()
	var ids []string
	for {
		page, next, err := s.SpendList(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page {
			ids = append(ids, g.LeaseID)
		}
		if next == "" {
			return ids
		}
		p.Cursor = next
	}
}

func testSpendListOpen(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	open, ended := spendLedgerOf("l-open", T0), spendLedgerOf("l-ended", T0)
	for _, g := range []*ovm.SpendLedger{open, ended} {
		if err := s.SpendPut(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	ended = ended.Clone()
	ended.End(T0.Add(time.Hour))
	ended.Version++
	if err := s.SpendPut(ctx, ended); err != nil {
		t.Fatal(err)
	}
	got, err := s.SpendListOpen(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].LeaseID != "l-open" {
		t.Fatalf("open ledgers %v, want only l-open", got)
	}
}

func testSpendListOwner(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	for i, owner := range []string{"ann", "bob", "ann", "cid"} {
		g := spendLedgerOf(fmt.Sprintf("l-ow-%d", i), T0.Add(time.Duration(i)*time.Minute))
		g.Owner = owner
		g.Apply("e", []*ovm.SpendChange{{At: g.LeaseStart, Action: ovm.SpendStart, Type: "ec2.instance", Region: "eu-west-1", ID: "i", Size: "t3.micro", USDPerHour: 2}})
		g.UpdatedAt = g.LeaseStart.Add(time.Hour)
		if err := s.SpendPut(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	ids := spendListIDs(t, s, &ovm.SpendListParams{PageParams: ovm.PageParams{Limit: 1}, Owner: "ann"})
	if fmt.Sprint(ids) != "[l-ow-0 l-ow-2]" {
		t.Fatalf("ann's spend lists %v", ids)
	}
	page, _, err := s.SpendList(ctx, &ovm.SpendListParams{Owner: "bob"})
	if err != nil || len(page) != 1 {
		t.Fatalf("bob's: %v %v", page, err)
	}
	// The summary alone says what the lease costs later: 2 USD an hour.
	if spend, _ := page[0].At(page[0].LeaseStart.Add(3 * time.Hour)); spend[T0.Format(time.DateOnly)] != 6 {
		t.Fatalf("bob's summary prices %v at 3 h, want 6", spend)
	}
}

func testSpendPrune(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	for i, end := range []time.Duration{time.Hour, 2 * time.Hour, 0} {
		g := spendLedgerOf(fmt.Sprintf("l-pr-%d", i), T0)
		if end > 0 {
			g.End(T0.Add(end))
		}
		if err := s.SpendPut(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.SpendPrune(ctx, T0.Add(90*time.Minute), 10)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want the one ended before the cutoff", n, err)
	}
	if _, err := s.SpendGet(ctx, "l-pr-0"); !errors.Is(err, ovm.ErrNotFound) {
		t.Fatalf("the pruned ledger: %v", err)
	}
	for _, id := range []string{"l-pr-1", "l-pr-2"} {
		if _, err := s.SpendGet(ctx, id); err != nil {
			t.Fatalf("%s was pruned: %v", id, err)
		}
	}
}
