package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/store/dynamostore"
	"github.com/ovmdev/ovm/store/storetest"
)

// lostOutbox is DynamoDB whose writes of outbox items fail while down is
// set: a process killed between a change and the flush of its
// notification.
type lostOutbox struct {
	dynamostore.API
	down atomic.Bool
}

func (l *lostOutbox) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if pk, ok := in.Item["pk"].(*types.AttributeValueMemberS); ok && l.down.Load() && strings.HasPrefix(pk.Value, "DLV#") {
		return nil, errors.New("killed before the outbox item was written")
	}
	return l.API.PutItem(ctx, in, opts...)
}

// A notification written with its change but not yet moved to its outbox
// item (the process died in between) is moved by Repair, once.
func TestRepairMovesNotificationsACrashLeftInTheAccountItem(t *testing.T) {
	ctx := context.Background()
	db := &lostOutbox{API: dynamodb.NewFromConfig(dynalitetest.Require(t).Config())}
	s, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: fmt.Sprintf("ovm_%d", rand.Int64()), CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.Account("p1")
	if err := s.AccountInsert(ctx, a, ovm.ActorPlanner); err != nil {
		t.Fatal(err)
	}
	db.down.Store(true)
	u, err := ovm.QuarantineAccount(a, ovm.ActorEngine, "INVALID_EMAIL", storetest.T0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AccountUpdate(ctx, u); err != nil {
		t.Fatalf("the change itself must succeed: %v", err)
	}
	due := func() []*ovm.Delivery {
		t.Helper()
		ds, err := s.DeliveryListDue(ctx, storetest.T0.Add(time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	if ds := due(); len(ds) != 0 {
		t.Fatalf("outbox %v before the repair", ds)
	}
	if n, err := s.Repair(ctx); err == nil {
		t.Fatalf("repair with the outbox down: %d, nil", n)
	}
	db.down.Store(false)
	if n, err := s.Repair(ctx); err != nil || n != 1 {
		t.Fatalf("repair: %d %v, want 1", n, err)
	}
	ds := due()
	if len(ds) != 1 || ds[0].Event.Type != ovm.NotifyAccountQuarantined || ds[0].Event.AccountID != a.ID || ds[0].Event.LastError != "INVALID_EMAIL" {
		t.Fatalf("outbox after the repair %+v", ds)
	}
	if n, err := s.Repair(ctx); err != nil || n != 0 {
		t.Fatalf("a second repair: %d %v, want nothing left", n, err)
	}
	if ds := due(); len(ds) != 1 {
		t.Fatalf("outbox after a second repair: %d entries", len(ds))
	}
}
