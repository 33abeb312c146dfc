package dynamostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

// Everything the retention deletes is on the time index (gsi2) under a
// partition of its kind, sorted by the time it is kept from:
//
//	RET#AEV   archived account events, by their newest event
//	RET#PEV   a pool's events, by their time
//	RET#LSE   ended lease copies, by their end
//	RET#ACC   closed and abandoned accounts, by their state change
//	RET#MISS  miss counts, by their minute
//	RET#IDEM  idempotency guards, by their use
//
// A live account keeps its last events in its item (events.go); only the
// archived ones go by time.
const (
	retArchive = "RET#AEV"
	retPoolEv  = "RET#PEV"
	retLease   = "RET#LSE"
	retAccount = "RET#ACC"
	retMiss    = "RET#MISS"
	retIdem    = "RET#IDEM"
)

func missPK(pool string) string { return "MISS#" + pool }

// MissAdd implements ovm.Store: one counter item per pool, minute and
// owner. The add is conditional (on nothing but the write token), so that a
// write the SDK sends twice counts once (writetoken.go).
func (s *Store) MissAdd(ctx context.Context, pool, owner string, at time.Time) error {
	m := ovm.MissMinute(at)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table),
		Key:                       key(missPK(pool), padNS(m.UnixNano())+"#"+owner),
		UpdateExpression:          aws.String("SET #o = :o, gsi2pk = :r, gsi2sk = :m ADD #c :one"),
		ConditionExpression:       aws.String("attribute_not_exists(#c) OR #c > :zero"),
		ExpressionAttributeNames:  map[string]string{"#c": "count", "#o": "owner"},
		ExpressionAttributeValues: item{":one": num(1), ":zero": num(0), ":o": str(owner), ":r": str(retMiss), ":m": num(m.UnixNano())}})
	return err
}

// MissList implements ovm.Store.
func (s *Store) MissList(ctx context.Context, pool string, since time.Time) ([]*ovm.MissCount, error) {
	var out []*ovm.MissCount
	err := s.query(ctx, &dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p AND sk >= :s"),
		ExpressionAttributeValues: item{":p": str(missPK(pool)), ":s": str(padNS(ovm.MissMinute(since).UnixNano()))},
		ConsistentRead:            aws.Bool(true)}, func(it item) bool {
		out = append(out, &ovm.MissCount{Pool: pool, Owner: getS(it, "owner"), Minute: time.Unix(0, getN(it, "gsi2sk")).UTC(),
			Count: int(getN(it, "count"))})
		return true
	})
	return out, err
}

// Prune implements ovm.Store: per kind, a query of its time index
// partition up to the cutoff, and a delete per item.
func (s *Store) Prune(ctx context.Context, p *ovm.PruneParams) (*ovm.PruneCounts, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	out := &ovm.PruneCounts{}
	var errs []error
	run := func(n *int, cutoff time.Time, partitions []string, del func(item) (bool, error)) {
		if cutoff.IsZero() {
			return
		}
		for _, part := range partitions {
			var due []item
			err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiTime),
				KeyConditionExpression:    aws.String("gsi2pk = :p AND gsi2sk < :c"),
				ExpressionAttributeValues: item{":p": str(part), ":c": num(cutoff.UnixNano())},
				Limit:                     aws.Int32(int32(limit))}, func(it item) bool {
				due = append(due, it)
				return len(due) < limit-*n
			})
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, it := range due {
				gone, err := del(it)
				if err != nil {
					errs = append(errs, err)
					return
				}
				if gone {
					*n++
				}
			}
		}
	}
	plain := func(it item) (bool, error) { return s.deleteIf(ctx, it, "gsi2pk = :p", nil, item{":p": it["gsi2pk"]}) }
	run(&out.Events, p.Events, []string{retArchive, retPoolEv}, plain)
	run(&out.Leases, p.Leases, []string{retLease}, plain)
	run(&out.Accounts, p.Accounts, []string{retAccount}, func(it item) (bool, error) { return s.deleteAccount(ctx, it) })
	run(&out.Misses, p.Misses, []string{retMiss}, plain)
	run(&out.IdempotencyKeys, p.IdempotencyKeys, []string{retIdem}, plain)
	return out, errors.Join(errs...)
}

// deleteIf deletes the item of index entry it if cond still holds (it was
// not moved off the retention's index meanwhile), and reports whether it
// deleted it.
func (s *Store) deleteIf(ctx context.Context, it item, cond string, names map[string]string, values item) (bool, error) {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(getS(it, "pk"), getS(it, "sk")),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// deleteAccount deletes a terminal account: its archived events, its AWS
// id marker, then its item (its last events with it).
func (s *Store) deleteAccount(ctx context.Context, it item) (bool, error) {
	id := strings.TrimPrefix(getS(it, "pk"), "ACC#")
	var archives []item
	if err := s.query(ctx, &dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: item{":p": str("AEV#" + id)}}, func(a item) bool { archives = append(archives, a); return true }); err != nil {
		return false, err
	}
	for _, a := range archives {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(getS(a, "pk"), getS(a, "sk"))}); err != nil {
			return false, err
		}
	}
	full, err := s.accountItem(ctx, id)
	if err != nil || full == nil {
		return false, err
	}
	a, err := decodeAccount(full)
	if err != nil {
		return false, err
	}
	if !a.State.Terminal() {
		return false, nil
	}
	gone, err := s.deleteIf(ctx, it, "#st IN (:c, :a)", map[string]string{"#st": "state"},
		item{":c": str(string(ovm.AccountClosed)), ":a": str(string(ovm.AccountAbandoned))})
	if gone && a.AWSAccountID != "" {
		s.releaseMarker(ctx, "AWSID#"+a.AWSAccountID, a.ID)
	}
	return gone, err
}

// migrateRetention puts what the retention deletes on the time index, and
// turns the events of misses made so far into counts (schema 3).
func (s *Store) migrateRetention(ctx context.Context) error {
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, it := range page.Items {
			if err := s.migrateItem(ctx, it); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) migrateItem(ctx context.Context, it item) error {
	pk := getS(it, "pk")
	if getS(it, "gsi2pk") != "" && !strings.HasPrefix(pk, "PEV#") {
		return nil
	}
	set := func(part string, at int64) error {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key(pk, getS(it, "sk")),
			UpdateExpression: aws.String("SET gsi2pk = :p, gsi2sk = :t"), ConditionExpression: aws.String("attribute_exists(pk)"),
			ExpressionAttributeValues: item{":p": str(part), ":t": num(at)}})
		if isConditionFailed(err) {
			return nil // deleted meanwhile
		}
		return err
	}
	switch {
	case strings.HasPrefix(pk, "AEV#"):
		ev, err := decodeEvents(getL(it, "ev"), 0)
		if err != nil || len(ev) == 0 {
			return err
		}
		return set(retArchive, ev[len(ev)-1].Time.UnixNano())
	case strings.HasPrefix(pk, "PEV#"):
		var e ovm.Event
		if err := json.Unmarshal([]byte(getS(it, "data")), &e); err != nil {
			return fmt.Errorf("dynamostore: decode event of %s: %w", pk, err)
		}
		if e.Kind != ovm.EventMiss {
			if getS(it, "gsi2pk") != "" {
				return nil
			}
			return set(retPoolEv, e.Time.UnixNano())
		}
		// A miss event becomes a count, once: the count is added only by
		// the delete of the event that made it.
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(pk, getS(it, "sk")),
			ConditionExpression: aws.String("attribute_exists(pk)")}); err != nil {
			if isConditionFailed(err) {
				return nil
			}
			return err
		}
		return s.MissAdd(ctx, e.Pool, strings.TrimPrefix(e.Actor, "key:"), e.Time)
	case strings.HasPrefix(pk, "LSE#"):
		l, err := decodeLease(getS(it, "data"))
		if err != nil || l == nil || l.State != ovm.LeaseEnded {
			return err
		}
		return set(retLease, l.EndedAt.UnixNano())
	case strings.HasPrefix(pk, "ACC#") && getS(it, "sk") == "A":
		a, err := decodeAccount(it)
		if err != nil || !a.State.Terminal() {
			return err
		}
		return set(retAccount, a.StateChangedAt.UnixNano())
	}
	return nil
}
