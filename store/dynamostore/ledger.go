package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

// CloseLedgerAdd implements ovm.Store: one item per (ledger, AWS account),
// written only if absent.
func (s *Store) CloseLedgerAdd(ctx context.Context, e *ovm.CloseEntry) error {
	if e.Ledger == "" || e.AWSAccountID == "" {
		return ovm.Errorf(ovm.EInvalid, "close ledger entry needs a ledger and an aws account id")
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item{
		"pk": str("LED#" + e.Ledger), "sk": str(e.AWSAccountID), "data": str(encodeJSON(e)),
		"gsi2pk": str("LEDT#" + e.Ledger), "gsi2sk": num(e.At.UnixNano())},
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if isConditionFailed(err) {
		return nil
	}
	return err
}

// CloseLedgerList implements ovm.Store.
func (s *Store) CloseLedgerList(ctx context.Context, ledger string, since time.Time) ([]*ovm.CloseEntry, error) {
	var out []*ovm.CloseEntry
	var derr error
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiTime),
		KeyConditionExpression:    aws.String("gsi2pk = :p AND gsi2sk >= :since"),
		ExpressionAttributeValues: item{":p": str("LEDT#" + ledger), ":since": num(since.UnixNano())}}, func(it item) bool {
		var e ovm.CloseEntry
		if err := json.Unmarshal([]byte(getS(it, "data")), &e); err != nil {
			derr = fmt.Errorf("dynamostore: decode close entry: %w", err)
			return false
		}
		out = append(out, &e)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// LeaderAcquire implements ovm.Store with one conditional write.
func (s *Store) LeaderAcquire(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item{
		"pk": str("LEADER#" + name), "sk": str("L"), "holder": str(holder), "expires": num(until.UnixNano())},
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR holder = :h OR expires <= :now"),
		ExpressionAttributeValues: item{":h": str(holder), ":now": num(now.UnixNano())}})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// Leader returns the holder of leader lease name and until when it holds
// it (zero values if nobody ever did).
func (s *Store) Leader(ctx context.Context, name string) (string, time.Time, error) {
	it, err := s.get(ctx, "LEADER#"+name, "L")
	if err != nil || it == nil {
		return "", time.Time{}, err
	}
	return getS(it, "holder"), fromNS(getN(it, "expires")), nil
}

// LeaderRelease implements ovm.Store with one conditional write: if
// holder holds the lease, it is left with no holder and expired, so any
// holder takes it at once. (An UpdateItem, not a DeleteItem: replicas need
// no more permissions.)
func (s *Store) LeaderRelease(ctx context.Context, name, holder string) error {
	_, err := s.apply(ctx, "LEADER#"+name, "L", &change{set: item{"expires": num(0)}, remove: []string{"holder"},
		cond: "holder = :h", values: item{":h": str(holder)}})
	if errors.Is(err, ovm.ErrConflict) {
		return nil // not holder's (or nobody's)
	}
	return err
}
