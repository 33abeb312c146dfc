package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

// ledgerTests are the cases of ledger.
var ledgerTests = []testCase{
	{"the close ledger keeps one entry per account and lists by time", testCloseLedger},
}

func testCloseLedger(t *testing.T, s ovm.Store) {
	ctx := context.Background()
	add := func(ledger, aws string, at time.Time) {
		t.Helper()
		if err := s.CloseLedgerAdd(ctx, &ovm.CloseEntry{Ledger: ledger, AWSAccountID: aws, AccountID: "acc_" + aws, Pool: "p1", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	add("o-1", "111111111111", T0)
	add("o-1", "222222222222", T0.Add(time.Hour))
	add("o-1", "111111111111", T0.Add(2*time.Hour)) // again: keeps the first time
	add("o-2", "333333333333", T0)
	got, err := s.CloseLedgerList(ctx, "o-1", T0)
	if err != nil || len(got) != 2 || got[0].AWSAccountID != "111111111111" || !got[0].At.Equal(T0) || got[1].Pool != "p1" {
		t.Fatalf("ledger o-1: %+v %v", got, err)
	}
	if got, _ := s.CloseLedgerList(ctx, "o-1", T0.Add(time.Minute)); len(got) != 1 || got[0].AWSAccountID != "222222222222" {
		t.Fatalf("since: %+v", got)
	}
	if err := s.CloseLedgerAdd(ctx, &ovm.CloseEntry{Ledger: "o-1"}); ovm.ErrorCodeOf(err) != ovm.EInvalid {
		t.Fatalf("empty entry: %v", err)
	}
}
