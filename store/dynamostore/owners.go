package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
)

// The per-owner lease limit is exact under concurrency: before its vend
// write, a vend adds its lease to the owner's reservation set with one
// conditional write (the set must be smaller than the limit), and the
// lease's end takes it out. A reservation left by a crash (a vend that
// never wrote, an end that never released) is found when the owner hits
// its limit: each reservation is checked against its lease and dropped if
// the lease ended, or never came to be after reservationGrace.

// reservationGrace is how long a reservation may wait for its lease to
// appear; a vend takes well under a second, and Repair writes a lease's
// pending copy at the next tick.
const reservationGrace = 2 * time.Minute

func ownerPK(owner string) string { return "OWNER#" + owner }

// reservation is the set element of lease id, made at t.
func reservation(id string, t time.Time) string { return id + "@" + strconv.FormatInt(t.Unix(), 10) }

// reserve takes one of p.Owner's p.OwnerLimit slots for lease p.LeaseID.
func (s *Store) reserve(ctx context.Context, p *ovm.LeaseCreateParams) error {
	for attempt := 0; ; attempt++ {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(ownerPK(p.Owner), "O"),
			UpdateExpression:          aws.String("ADD res :e"),
			ConditionExpression:       aws.String("attribute_not_exists(res) OR size(res) < :lim"),
			ExpressionAttributeValues: item{":e": &types.AttributeValueMemberSS{Value: []string{reservation(p.LeaseID, p.Now)}}, ":lim": num(int64(p.OwnerLimit))}})
		if !isConditionFailed(err) {
			return err
		}
		if attempt > 0 {
			return fmt.Errorf("%s holds %d active leases: %w", p.Owner, p.OwnerLimit, ovm.ErrLeaseLimit)
		}
		freed, err := s.repairOwner(ctx, p.Owner, p.Now)
		if err != nil {
			return err
		}
		if freed == 0 {
			return fmt.Errorf("%s holds %d active leases: %w", p.Owner, p.OwnerLimit, ovm.ErrLeaseLimit)
		}
	}
}

// release gives back lease id's slot (made at created). Releasing a slot
// that is not held changes nothing.
func (s *Store) release(ctx context.Context, owner, id string, created time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(ownerPK(owner), "O"),
		UpdateExpression:          aws.String("DELETE res :e"),
		ConditionExpression:       aws.String("attribute_exists(res)"),
		ExpressionAttributeValues: item{":e": &types.AttributeValueMemberSS{Value: []string{reservation(id, created)}}}})
	if isConditionFailed(err) {
		return nil
	}
	return err
}

// repairOwner drops the reservations whose lease ended, or never appeared
// within reservationGrace, and returns how many it dropped.
func (s *Store) repairOwner(ctx context.Context, owner string, now time.Time) (int, error) {
	it, err := s.get(ctx, ownerPK(owner), "O")
	if err != nil || it == nil {
		return 0, err
	}
	set, _ := it["res"].(*types.AttributeValueMemberSS)
	if set == nil {
		return 0, nil
	}
	freed := 0
	for _, e := range set.Value {
		id, ts, _ := strings.Cut(e, "@")
		unix, _ := strconv.ParseInt(ts, 10, 64)
		l, _, err := s.leaseState(ctx, id)
		switch {
		case errors.Is(err, ovm.ErrNotFound) && now.Sub(time.Unix(unix, 0)) < reservationGrace:
			continue // a vend in flight
		case errors.Is(err, ovm.ErrNotFound):
		case err != nil:
			return freed, err
		case l.State == ovm.LeaseActive:
			continue
		}
		if err := s.release(ctx, owner, id, time.Unix(unix, 0)); err != nil {
			return freed, err
		}
		freed++
	}
	return freed, nil
}
