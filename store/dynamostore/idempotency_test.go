package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/store/storetest"
)

// A guard that a crashed vend left (its lease never made) holds the key
// while it is pending, then is taken over: the key makes one lease, not
// none and not two.
func TestAnIdempotencyGuardLeftByACrashIsTakenOver(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(dynalitetest.Require(t).Config())
	s, err := Open(ctx, db, Options{Table: fmt.Sprintf("ovm_%d", rand.Int64()), CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := storetest.T0
	storetest.Ready(t, s, "p1", t0)
	// The crashed vend's guard: it names lse_dead, which was never made.
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item{
		"pk": str(idemPK("alice", "k")), "sk": str("I"), "lease": str("lse_dead"), "at": num(t0.UnixNano()),
		"pending": num(t0.Add(idemPending).UnixNano())}}); err != nil {
		t.Fatal(err)
	}
	vend := func(now time.Time) (*ovm.Lease, error) {
		return s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: ovm.NewID("lse", now), Pool: "p1", Owner: "alice",
			Now: now, ExpiresAt: now.Add(time.Hour), IdempotencyKey: "k"})
	}
	if _, err := vend(t0.Add(time.Minute)); !errors.Is(err, ovm.ErrConflict) {
		t.Fatalf("while the guard is pending: %v, want a conflict", err)
	}
	l, err := vend(t0.Add(idemPending + time.Second))
	if err != nil {
		t.Fatalf("after the guard's pending time: %v", err)
	}
	again, err := vend(t0.Add(idemPending + 2*time.Second))
	if err != nil || again.ID != l.ID {
		t.Fatalf("the key after the takeover: %+v %v, want %s", again, err, l.ID)
	}
}
