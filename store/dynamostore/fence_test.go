package dynamostore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/store/storetest"
)

// An older replica never replaces an item a newer one wrote (it would drop
// the fields it does not know), and a table whose lowest writer version is
// above a replica's is opened read-only.
func TestAnOlderWriterIsFencedOff(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(dynalitetest.Require(t).Config())
	table := fmt.Sprintf("ovm_%d", rand.Int64())
	defer func(v int64) { writerVersion = v }(writerVersion)
	old, err := Open(ctx, db, Options{Table: table, CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.Ready(t, old, "p1", storetest.T0)
	// A newer writer updates the account, as a newer replica would.
	writerVersion++
	newer := &Store{raw: db, table: table, clock: ovm.SystemClock()}
	newer.db = fenced{API: tokened{db}, s: newer}
	cur, _ := newer.AccountGet(ctx, a.ID)
	u, _ := ovm.RecordStepWaiting(cur, 0, "", map[string]string{"x": "newer"}, storetest.T0)
	if _, err := newer.AccountUpdate(ctx, u); err != nil {
		t.Fatal(err)
	}
	writerVersion--
	// The older one, which has not seen the table's floor yet, tries.
	cur, _ = old.AccountGet(ctx, a.ID)
	u, _ = ovm.RecordStepWaiting(cur, 0, "", map[string]string{"x": "older"}, storetest.T0)
	_, err = old.AccountUpdate(ctx, u)
	if ovm.ErrorCodeOf(err) != ovm.EUnavailable || old.Fenced() == nil {
		t.Fatalf("an older writer's update of a newer item: %v (fenced: %v)", err, old.Fenced())
	}
	if got, _ := old.AccountGet(ctx, a.ID); got.Progress["x"] != "newer" {
		t.Fatalf("the newer item was replaced: %v", got.Progress)
	}
	// Once fenced, it writes nothing at all.
	if err := old.MissAdd(ctx, "p1", "alice", storetest.T0); ovm.ErrorCodeOf(err) != ovm.EUnavailable {
		t.Fatalf("a fenced replica's write: %v", err)
	}
	// A newer replica's start raises the table's floor: an older one opens
	// read-only, and says why.
	writerVersion++
	if _, err := Open(ctx, db, Options{Table: table}); err != nil {
		t.Fatal(err)
	}
	writerVersion--
	late, err := Open(ctx, db, Options{Table: table})
	if err != nil || late.Fenced() == nil {
		t.Fatalf("an older replica started after the newer: %v, fenced %v", err, late.Fenced())
	}
	out, _ := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key("META", "SCHEMA"), ConsistentRead: aws.Bool(true)})
	if getN(out.Item, "mw") != writerVersion+1 {
		t.Fatalf("the table's floor %d, want %d", getN(out.Item, "mw"), writerVersion+1)
	}
}
