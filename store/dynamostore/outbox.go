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

// The notification outbox (docs/adr/0006-notification-outbox.md). A change
// that reports a notification appends the outbox entry to its account
// item (attribute ntf) in the same conditional write as the change and its
// event, and marks the item in the sparse DIRTY index. flush, right after
// the write, puts each entry in its own item (pk DLV#<id>) if absent and
// then clears ntf; a crash in between is finished by Repair. Outbox items
// are indexed by id (gsi1 DLV, newest first), by state (gsi3 DLV#<state>)
// and, while pending, by due time (gsi2 DLVDUE).

func deliveryPK(id string) string { return "DLV#" + id }

func deliveryItem(d *ovm.Delivery) item {
	it := item{"pk": str(deliveryPK(d.ID)), "sk": str("D"), "data": str(encodeJSON(d)), "version": num(d.Version),
		"state": str(string(d.State)), "gsi1pk": str("DLV"), "gsi1sk": str(d.ID),
		"gsi3pk": str("DLV#" + string(d.State)), "gsi3sk": str(d.ID)}
	if due, ok := d.DueAt(); ok {
		it["gsi2pk"], it["gsi2sk"] = str("DLVDUE"), num(due.UnixNano())
	}
	return it
}

func decodeDelivery(it item) (*ovm.Delivery, error) {
	var d ovm.Delivery
	if err := json.Unmarshal([]byte(getS(it, "data")), &d); err != nil {
		return nil, fmt.Errorf("dynamostore: decode delivery: %w", err)
	}
	return &d, nil
}

// notifications adds to c the outbox entries of its events (with the
// account and lease c writes) and asks for the written item back, so the
// caller can flush them.
func (c *change) notifications(pk string) {
	var ntf []string
	for _, e := range c.events {
		if n := ovm.NotificationFor(e, c.acct, c.lease); n != nil {
			ntf = append(ntf, encodeJSON(ovm.NewDelivery(n, e.Time)))
		}
	}
	if len(ntf) == 0 {
		return
	}
	if c.names == nil {
		c.names = map[string]string{}
	}
	c.names["#ntf"] = "ntf"
	c.ntf = list(ntf...)
	if _, ok := c.set["gsi5pk"]; !ok {
		c.set["gsi5pk"], c.set["gsi5sk"] = str("DIRTY"), str(pk)
	}
	if c.ret == "" {
		c.ret = "ALL_NEW"
	}
}

// putDelivery writes d's item if absent. ErrConflict if it exists.
func (s *Store) putDelivery(ctx context.Context, d *ovm.Delivery) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: deliveryItem(d),
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if isConditionFailed(err) {
		return fmt.Errorf("delivery %s is in the outbox: %w", d.ID, ovm.ErrConflict)
	}
	return err
}

// flushNotifications writes the outbox entries pending in account item it
// (a repeat finds them written and keeps the first).
func (s *Store) flushNotifications(ctx context.Context, ntf []string) error {
	for _, raw := range ntf {
		var d ovm.Delivery
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			return fmt.Errorf("dynamostore: decode pending delivery: %w", err)
		}
		if err := s.putDelivery(ctx, &d); err != nil && !errors.Is(err, ovm.ErrConflict) {
			return err
		}
	}
	return nil
}

// DeliveryAdd implements ovm.Store.
func (s *Store) DeliveryAdd(ctx context.Context, d *ovm.Delivery) error { return s.putDelivery(ctx, d) }

// DeliveryGet implements ovm.Store.
func (s *Store) DeliveryGet(ctx context.Context, id string) (*ovm.Delivery, error) {
	it, err := s.get(ctx, deliveryPK(id), "D")
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("delivery %s: %w", id, ovm.ErrNotFound)
	}
	return decodeDelivery(it)
}

// DeliveryUpdate implements ovm.Store: one conditional put on the version.
func (s *Store) DeliveryUpdate(ctx context.Context, d *ovm.Delivery) (*ovm.Delivery, error) {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: deliveryItem(d),
		ConditionExpression:       aws.String("version = :v"),
		ExpressionAttributeValues: item{":v": num(d.Version - 1)}})
	if isConditionFailed(err) {
		if _, gerr := s.DeliveryGet(ctx, d.ID); gerr != nil {
			return nil, gerr
		}
		return nil, fmt.Errorf("delivery %s is no longer v%d: %w", d.ID, d.Version-1, ovm.ErrConflict)
	}
	if err != nil {
		return nil, err
	}
	return d.Clone(), nil
}

// DeliveryListDue implements ovm.Store.
func (s *Store) DeliveryListDue(ctx context.Context, now time.Time, limit int) ([]*ovm.Delivery, error) {
	limit = max(limit, 1)
	var out []*ovm.Delivery
	var derr error
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiTime), KeyConditionExpression: aws.String("gsi2pk = :p AND gsi2sk <= :now"),
		ExpressionAttributeValues: item{":p": str("DLVDUE"), ":now": num(now.UnixNano())}, Limit: aws.Int32(int32(limit))},
		func(it item) bool {
			d, err := decodeDelivery(it)
			if err != nil {
				derr = err
				return false
			}
			out = append(out, d)
			return len(out) < limit
		})
	if err == nil {
		err = derr
	}
	return out, err
}

// DeliveryList implements ovm.Store.
func (s *Store) DeliveryList(ctx context.Context, p *ovm.DeliveryListParams) ([]*ovm.Delivery, string, error) {
	part := "DLV"
	if p.State != "" {
		part = "DLV#" + string(p.State)
	}
	var out []*ovm.Delivery
	next, err := s.listByID(ctx, part, p.PageParams, false, nil, nil, item{}, func(it item) error {
		d, err := decodeDelivery(it)
		out = append(out, d)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// DeliveryCount implements ovm.Store.
func (s *Store) DeliveryCount(ctx context.Context, state ovm.DeliveryState) (int, error) {
	return s.count(ctx, gsiStock, "gsi3pk = :p", item{":p": str("DLV#" + string(state))})
}

// flushCond is the condition that clears the pending lease copy plw and
// the pending outbox entries ntf of an account item only if they are still
// the ones flushed: entries are only appended between flushes and each is
// unique, so the count and the first one identify the list.
func flushCond(plw string, ntf []string, c *change) {
	var conds []string
	if plw != "" {
		conds = append(conds, "plw = :p")
		c.values[":p"] = str(plw)
		c.remove = append(c.remove, "plw")
	} else {
		conds = append(conds, "attribute_not_exists(plw)")
	}
	if len(ntf) > 0 {
		conds = append(conds, "size(ntf) = :nn", "ntf[0] = :nf")
		c.values[":nn"], c.values[":nf"] = num(int64(len(ntf))), str(ntf[0])
		c.remove = append(c.remove, "ntf")
	} else {
		conds = append(conds, "attribute_not_exists(ntf)")
	}
	c.cond = strings.Join(conds, " AND ")
}

// DeliveryPrune implements ovm.Store: the delivered entries of the state
// index, oldest first, each deleted only if still delivered (a retry may
// have taken it since).
func (s *Store) DeliveryPrune(ctx context.Context, cutoff string, limit int) (int, error) {
	limit = max(limit, 1)
	var ids []string
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiStock), KeyConditionExpression: aws.String("gsi3pk = :p AND gsi3sk < :c"),
		ExpressionAttributeValues: item{":p": str("DLV#" + string(ovm.DeliveryDelivered)), ":c": str(cutoff)}, Limit: aws.Int32(int32(limit))},
		func(it item) bool {
			ids = append(ids, getS(it, "gsi3sk"))
			return len(ids) < limit
		})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(deliveryPK(id), "D"),
			ConditionExpression: aws.String("#st = :d"), ExpressionAttributeNames: map[string]string{"#st": "state"},
			ExpressionAttributeValues: item{":d": str(string(ovm.DeliveryDelivered))}})
		switch {
		case isConditionFailed(err):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}
