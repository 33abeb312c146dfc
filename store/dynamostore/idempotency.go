package dynamostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

// A vend with an idempotency key first takes the key's guard item
// IDEM#<sha256(owner, key)> / I, naming the lease it is about to make, with
// one conditional write; only the holder vends. A later vend with the key
// finds the guard: the lease it names is the answer once it exists. A guard
// whose lease does not exist is in flight until its pending time, after
// which it was left by a crash and is taken over. A vend that made nothing
// (an empty pool, a limit) deletes its guard. Guards are on the time index
// (RET#IDEM, by their use) and pruned with the retention.

// idemPending is how long a guard's holder has to make its lease: far more
// than one vend write takes, as reservationGrace.
const idemPending = 2 * time.Minute

func idemPK(owner, key string) string {
	h := sha256.Sum256([]byte(owner + "\x00" + key))
	return "IDEM#" + hex.EncodeToString(h[:])
}

// idempotent answers a vend with p.IdempotencyKey: the earlier lease made
// with the key (a replay), or nil once this vend holds the key's guard and
// must vend (release the guard if it makes nothing), or ErrConflict while
// another vend with the key is in flight.
func (s *Store) idempotent(ctx context.Context, p *ovm.LeaseCreateParams) (*ovm.Lease, error) {
	pk := idemPK(p.Owner, p.IdempotencyKey)
	for range 3 {
		it, err := s.get(ctx, pk, "I")
		if err != nil {
			return nil, err
		}
		cond, values := "attribute_not_exists(pk)", item{}
		if it != nil && getN(it, "at") > p.Now.Add(-ovm.IdempotencyWindow).UnixNano() {
			id := getS(it, "lease")
			l, err := s.LeaseGet(ctx, id)
			if errors.Is(err, ovm.ErrNotFound) {
				// A lease whose copy a crash left unwritten is written
				// now; only then is a lease that is not there absent.
				if _, err := s.Repair(ctx); err != nil {
					return nil, err
				}
				l, err = s.LeaseGet(ctx, id)
			}
			switch {
			case err == nil:
				return l, nil
			case !errors.Is(err, ovm.ErrNotFound):
				return nil, err
			case getN(it, "pending") > p.Now.UnixNano():
				return nil, fmt.Errorf("a vend with this idempotency key is in flight: %w", ovm.ErrConflict)
			}
			// Left by a crash: take it over from the lease it names.
			cond, values = "#l = :old", item{":old": str(id)}
		} else if it != nil {
			cond, values = "#at = :oldat", item{":oldat": num(getN(it, "at"))} // expired: a new window
		}
		values[":l"], values[":at"], values[":p"] = str(p.LeaseID), num(p.Now.UnixNano()), num(p.Now.Add(idemPending).UnixNano())
		values[":x"], values[":exp"] = str(retIdem), num(p.Now.UnixNano())
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(pk, "I"),
			UpdateExpression:         aws.String("SET #l = :l, #at = :at, #p = :p, gsi2pk = :x, gsi2sk = :exp"),
			ConditionExpression:      aws.String(cond),
			ExpressionAttributeNames: map[string]string{"#l": "lease", "#at": "at", "#p": "pending"}, ExpressionAttributeValues: values})
		if !isConditionFailed(err) {
			return nil, err // held (nil), or failed
		}
		// Another vend took or changed the guard meanwhile: look again.
	}
	return nil, fmt.Errorf("the idempotency key's guard keeps changing: %w", ovm.ErrConflict)
}

// releaseIdempotent deletes the guard of p's key if it still names p's
// lease, which was not made.
func (s *Store) releaseIdempotent(ctx context.Context, p *ovm.LeaseCreateParams) error {
	_, err := s.db.DeleteItem(context.WithoutCancel(ctx), &dynamodb.DeleteItemInput{TableName: aws.String(s.table),
		Key: key(idemPK(p.Owner, p.IdempotencyKey), "I"), ConditionExpression: aws.String("#l = :l"),
		ExpressionAttributeNames: map[string]string{"#l": "lease"}, ExpressionAttributeValues: item{":l": str(p.LeaseID)}})
	if isConditionFailed(err) {
		return nil
	}
	return err
}
