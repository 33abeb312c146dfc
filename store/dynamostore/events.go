package dynamostore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

// Events of an account live in its item (attribute ev, appended by the same
// write as the change they record); older ones move to archive items
// (pk AEV#<account>, sk = the sequence number of their first event). An
// event's sequence number is its position in the account's log.

const (
	keepEvents    = 200 // events kept in the account item
	archiveEvents = 100 // moved to an archive item at a time
)

func decodeEvents(raw []string, base int64) ([]*ovm.Event, error) {
	out := make([]*ovm.Event, 0, len(raw))
	for i, r := range raw {
		var e ovm.Event
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			return nil, fmt.Errorf("dynamostore: decode event: %w", err)
		}
		e.Seq = base + int64(i) + 1
		out = append(out, &e)
	}
	return out, nil
}

// rotateEvents moves the oldest events of a long log to an archive item.
// It is best effort: a concurrent append makes it try again later.
func (s *Store) rotateEvents(ctx context.Context, id string) {
	it, err := s.accountItem(ctx, id)
	if err != nil || it == nil {
		return
	}
	ev, base := getL(it, "ev"), getN(it, "evbase")
	if len(ev) <= keepEvents {
		return
	}
	old := ev[:archiveEvents]
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item{
		"pk": str("AEV#" + id), "sk": str(padNS(base)), "base": num(base), "ev": list(old...),
		"gsi2pk": str(retArchive), "gsi2sk": num(archiveTime(old))}}); err != nil {
		return
	}
	s.apply(ctx, accountPK(id), "A", &change{set: item{"ev": list(ev[archiveEvents:]...), "evbase": num(base + archiveEvents)},
		cond: "evbase = :b AND size(ev) = :n", values: item{":b": num(base), ":n": num(int64(len(ev)))}})
}

// archiveTime is when the newest of the archived events raw happened: the
// archive is kept from then (retention).
func archiveTime(raw []string) int64 {
	ev, err := decodeEvents(raw[len(raw)-1:], 0)
	if err != nil || len(ev) == 0 {
		return 0
	}
	return ev[0].Time.UnixNano()
}

// accountEvents returns the whole log of an account, oldest first.
func (s *Store) accountEvents(ctx context.Context, id string) ([]*ovm.Event, error) {
	it, err := s.accountItem(ctx, id)
	if err != nil || it == nil {
		return nil, err
	}
	base := getN(it, "evbase")
	var out []*ovm.Event
	var derr error
	err = s.query(ctx, &dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: item{":p": str("AEV#" + id)}, ConsistentRead: aws.Bool(true)}, func(a item) bool {
		if getN(a, "base") >= base {
			return false // archived and not yet trimmed: the item has them
		}
		ev, err := decodeEvents(getL(a, "ev"), getN(a, "base"))
		if err != nil {
			derr = err
			return false
		}
		out = append(out, ev...)
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	ev, err := decodeEvents(getL(it, "ev"), base)
	return append(out, ev...), err
}

// EventAppend implements ovm.Store.
func (s *Store) EventAppend(ctx context.Context, e *ovm.Event) error {
	if e.AccountID != "" {
		after, err := s.apply(ctx, accountPK(e.AccountID), "A", &change{set: item{}, events: []*ovm.Event{e}, cond: "attribute_exists(pk)"})
		if err != nil {
			return err
		}
		return s.flush(ctx, e.AccountID, after)
	}
	if e.Pool == "" {
		return ovm.Errorf(ovm.EInvalid, "an event needs an account or a pool")
	}
	// A pool's event has no item to carry its notification: the outbox
	// entry is written first, so a crash leaves a notification whose event
	// the next check appends again, never an event without one.
	if n := ovm.NotificationFor(e, nil, nil); n != nil {
		if err := s.putDelivery(ctx, ovm.NewDelivery(n, e.Time)); err != nil {
			return err
		}
	}
	// Ordered by time, then by this process's append order; the random part
	// keeps appends of other replicas at the same instant apart.
	var r [4]byte
	rand.Read(r[:])
	sk := fmt.Sprintf("%s#%012d#%s", padNS(e.Time.UnixNano()), s.seq.Add(1), hex.EncodeToString(r[:]))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item{
		"pk": str("PEV#" + e.Pool), "sk": str(sk), "data": str(encodeJSON(e)),
		"gsi2pk": str(retPoolEv), "gsi2sk": num(e.Time.UnixNano())}})
	return err
}

// EventList implements ovm.Store.
func (s *Store) EventList(ctx context.Context, p *ovm.EventListParams) ([]*ovm.Event, string, error) {
	limit := p.EffectiveLimit()
	kind := ovm.EventCursorKind(p)
	var from int64 = -1
	if p.Cursor != "" {
		c, err := ovm.DecodeCursor(kind, p.Cursor)
		if err != nil {
			return nil, "", err
		}
		if from, err = strconv.ParseInt(c, 10, 64); err != nil || from < 0 {
			return nil, "", ovm.Errorf(ovm.EInvalid, "invalid cursor: not a position in an event list")
		}
	}
	var all []*ovm.Event
	var err error
	switch {
	case p.LeaseID != "":
		l, lerr := s.LeaseGet(ctx, p.LeaseID)
		if lerr != nil {
			return nil, "", lerr
		}
		ev, aerr := s.accountEvents(ctx, l.AccountID)
		for _, e := range ev {
			if e.LeaseID == p.LeaseID {
				all = append(all, e)
			}
		}
		err = aerr
	case p.AccountID != "":
		all, err = s.accountEvents(ctx, p.AccountID)
	case p.Pool != "":
		all, err = s.poolEvents(ctx, p.Pool)
	default:
		return nil, "", ovm.Errorf(ovm.EInvalid, "events need an account, lease or pool")
	}
	if err != nil {
		return nil, "", err
	}
	if p.Newest {
		slices.Reverse(all)
	}
	var out []*ovm.Event
	for _, e := range all {
		past := from < 0 || !p.Newest && e.Seq > from || p.Newest && e.Seq < from
		if past && (p.Kind == "" || e.Kind == p.Kind) {
			out = append(out, e)
		}
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = ovm.EncodeCursor(kind, strconv.FormatInt(out[limit-1].Seq, 10))
	}
	return out, next, nil
}

func (s *Store) poolEvents(ctx context.Context, pool string) ([]*ovm.Event, error) {
	var out []*ovm.Event
	var derr error
	err := s.query(ctx, &dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: item{":p": str("PEV#" + pool)}, ConsistentRead: aws.Bool(true)}, func(it item) bool {
		var e ovm.Event
		if err := json.Unmarshal([]byte(getS(it, "data")), &e); err != nil {
			derr = err
			return false
		}
		e.Seq = int64(len(out) + 1)
		out = append(out, &e)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}
