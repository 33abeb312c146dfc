package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
)

// The per-owner lease limits are exact under concurrency. The owner's item
// OWNER#<owner> / O holds one string set of slots per limit: `res`, the
// owner's leases counted against its limit over all pools, and
// `res#<pool>`, those counted against the pool's limit. Before its vend
// write, a vend adds its lease to the sets of the limits it is under with
// ONE conditional write (each set must be smaller than its limit), so both
// limits are decided at once and a vend refused by one takes no slot of
// the other; the lease's end takes it out of both with one write. A slot
// left by a crash (a vend that never wrote, an end that never released)
// is found when the owner hits a limit: each reservation in the owner's
// sets is checked against its lease and dropped from every set if the
// lease ended, or never came to be after reservationGrace.

// reservationGrace is how long a reservation may wait for its lease to
// appear; a vend takes well under a second, and Repair writes a lease's
// pending copy at the next tick.
const reservationGrace = 2 * time.Minute

func ownerPK(owner string) string { return "OWNER#" + owner }

// ownerSlots is the owner item's set of slots under its limit over all
// pools; poolSlots(pool) is the set under the pool's limit. Pool names
// never hold '#'.
const ownerSlots = "res"

func poolSlots(pool string) string { return "res#" + pool }

func isSlotSet(attr string) bool { return attr == ownerSlots || strings.HasPrefix(attr, "res#") }

// reservation is the set element of lease id, made at t.
func reservation(id string, t time.Time) string { return id + "@" + strconv.FormatInt(t.Unix(), 10) }

// reserveTries bounds the conditional writes of one reservation: a refused
// write is tried again only when a slot was freed since (by repair or by a
// concurrent end).
const reserveTries = 4

// reserve takes lease p.LeaseID's slots: one of p.Owner's p.OwnerLimit
// slots over all pools and one of its p.PoolOwnerLimit slots in p.Pool
// (a limit of 0 takes none), both or neither.
func (s *Store) reserve(ctx context.Context, p *ovm.LeaseCreateParams) error {
	var adds, conds []string
	names := map[string]string{}
	values := item{":e": &types.AttributeValueMemberSS{Value: []string{reservation(p.LeaseID, p.Now)}}}
	for i, lim := range []struct {
		attr  string
		limit int
	}{{ownerSlots, p.OwnerLimit}, {poolSlots(p.Pool), p.PoolOwnerLimit}} {
		if lim.limit <= 0 {
			continue
		}
		n, v := fmt.Sprintf("#s%d", i), fmt.Sprintf(":l%d", i)
		names[n], values[v] = lim.attr, num(int64(lim.limit))
		adds = append(adds, n+" :e")
		conds = append(conds, fmt.Sprintf("(attribute_not_exists(%s) OR size(%s) < %s)", n, n, v))
	}
	in := &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(ownerPK(p.Owner), "O"),
		UpdateExpression: aws.String("ADD " + strings.Join(adds, ", ")), ConditionExpression: aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values}
	repaired := false
	for range reserveTries {
		_, err := s.db.UpdateItem(ctx, in)
		if !isConditionFailed(err) {
			return err
		}
		it, err := s.get(ctx, ownerPK(p.Owner), "O")
		if err != nil {
			return err
		}
		if holds(it, p) {
			return nil // a resent write whose first attempt was made (see tokened)
		}
		full := limitReached(it, p)
		if full != nil && repaired {
			return full
		}
		if full != nil {
			repaired = true
			freed, err := s.repairOwner(ctx, p.Owner, it, p.Now)
			if err != nil {
				return err
			}
			if freed == 0 {
				return full
			}
		}
		// A slot was freed since the write was refused: try again.
	}
	return fmt.Errorf("%s: the lease slots changed under %d tries: %w", p.Owner, reserveTries, ovm.ErrLeaseLimit)
}

// holds reports whether owner item it holds every slot that reserve takes
// for p.
func holds(it item, p *ovm.LeaseCreateParams) bool {
	e := reservation(p.LeaseID, p.Now)
	for _, lim := range []struct {
		attr  string
		limit int
	}{{ownerSlots, p.OwnerLimit}, {poolSlots(p.Pool), p.PoolOwnerLimit}} {
		if set, ok := it[lim.attr].(*types.AttributeValueMemberSS); lim.limit > 0 && (!ok || !slices.Contains(set.Value, e)) {
			return false
		}
	}
	return true
}

// limitReached tells which of p's limits owner item it has reached: the
// pool's first (releasing a lease of the pool frees a slot of both), nil
// if neither.
func limitReached(it item, p *ovm.LeaseCreateParams) error {
	size := func(attr string) int {
		if set, ok := it[attr].(*types.AttributeValueMemberSS); ok {
			return len(set.Value)
		}
		return 0
	}
	if n := size(poolSlots(p.Pool)); p.PoolOwnerLimit > 0 && n >= p.PoolOwnerLimit {
		return fmt.Errorf("%s holds %d active leases in pool %s: %w", p.Owner, n, p.Pool, ovm.ErrPoolLeaseLimit)
	}
	if n := size(ownerSlots); p.OwnerLimit > 0 && n >= p.OwnerLimit {
		return fmt.Errorf("%s holds %d active leases: %w", p.Owner, n, ovm.ErrLeaseLimit)
	}
	return nil
}

// release gives back the slots of lease id of pool (made at created).
// Releasing a slot that is not held changes nothing.
func (s *Store) release(ctx context.Context, owner, pool, id string, created time.Time) error {
	return s.drop(ctx, owner, reservation(id, created), []string{ownerSlots, poolSlots(pool)})
}

// drop takes element e out of the owner's slot sets attrs, in one write.
// DELETE of an absent set changes nothing; the condition keeps an absent
// owner item from being created.
func (s *Store) drop(ctx context.Context, owner, e string, attrs []string) error {
	names := map[string]string{}
	var dels, exists []string
	for i, attr := range attrs {
		n := fmt.Sprintf("#s%d", i)
		names[n] = attr
		dels = append(dels, n+" :e")
		exists = append(exists, "attribute_exists("+n+")")
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(ownerPK(owner), "O"),
		UpdateExpression:          aws.String("DELETE " + strings.Join(dels, ", ")),
		ConditionExpression:       aws.String(strings.Join(exists, " OR ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: item{":e": &types.AttributeValueMemberSS{Value: []string{e}}}})
	if isConditionFailed(err) {
		return nil
	}
	return err
}

// repairOwner drops the reservations of owner item it whose lease ended,
// or never appeared within reservationGrace, from every slot set that
// holds them, and returns how many it dropped. It reads each reserved
// lease once (two consistent reads), whichever sets hold it.
func (s *Store) repairOwner(ctx context.Context, owner string, it item, now time.Time) (int, error) {
	holders := map[string][]string{} // reservation -> the sets holding it
	for attr, v := range it {
		if set, ok := v.(*types.AttributeValueMemberSS); ok && isSlotSet(attr) {
			for _, e := range set.Value {
				holders[e] = append(holders[e], attr)
			}
		}
	}
	freed := 0
	for e, attrs := range holders {
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
		if err := s.drop(ctx, owner, e, attrs); err != nil {
			return freed, err
		}
		freed++
	}
	return freed, nil
}
