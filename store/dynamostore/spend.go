package dynamostore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

// A lease's spend ledger is one item, pk SPEND#<lease>, sk L: its JSON in
// doc, its version, and two index entries: gsi1 partition SPEND by lease
// start (reports), and, while the ledger is not final, gsi5 partition
// SPOPEN (the spend worker's list). One conditional put on the version is
// the whole write. The ledger's own bounds (ovm.MaxSpendResources,
// ovm.MaxSpendSeen) keep the item under DynamoDB's 400 KB.
func spendPK(lease string) string { return "SPEND#" + lease }

const (
	spendList = "SPEND"
	spendOpen = "SPOPEN"
)

func spendSortKey(g *ovm.SpendLedger) string {
	return fmt.Sprintf("%020d|%s", g.LeaseStart.UnixNano(), g.LeaseID)
}

// SpendGet implements ovm.Store.
func (s *Store) SpendGet(ctx context.Context, leaseID string) (*ovm.SpendLedger, error) {
	it, err := s.get(ctx, spendPK(leaseID), "L")
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("spend ledger of lease %s: %w", leaseID, ovm.ErrNotFound)
	}
	return decodeLedger(it)
}

func decodeLedger(it item) (*ovm.SpendLedger, error) {
	var g ovm.SpendLedger
	if err := json.Unmarshal([]byte(getS(it, "doc")), &g); err != nil {
		return nil, fmt.Errorf("dynamostore: decode spend ledger: %w", err)
	}
	return &g, nil
}

// SpendPut implements ovm.Store.
func (s *Store) SpendPut(ctx context.Context, g *ovm.SpendLedger) error {
	doc, err := json.Marshal(g)
	if err != nil {
		return err
	}
	end := int64(0)
	if !g.LeaseEnd.IsZero() {
		end = g.LeaseEnd.UnixNano()
	}
	it := item{"pk": str(spendPK(g.LeaseID)), "sk": str("L"), "doc": str(string(doc)), "version": num(g.Version),
		"lend": num(end), "gsi1pk": str(spendList), "gsi1sk": str(spendSortKey(g))}
	if !g.Final {
		it["gsi5pk"], it["gsi5sk"] = str(spendOpen), str(spendSortKey(g))
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it}
	if g.Version == 1 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": "version"}
		in.ExpressionAttributeValues = item{":v": num(g.Version - 1)}
	}
	_, err = s.db.PutItem(ctx, in)
	if isConditionFailed(err) {
		return fmt.Errorf("spend ledger of lease %s changed since it was read: %w", g.LeaseID, ovm.ErrConflict)
	}
	return err
}

// SpendList implements ovm.Store: one query of the SPEND partition, by
// lease start, the end filtered.
func (s *Store) SpendList(ctx context.Context, p *ovm.SpendListParams) ([]*ovm.SpendLedger, string, error) {
	values := item{":part": str(spendList)}
	cond := "gsi1pk = :part"
	if p.Cursor != "" {
		last, err := ovm.DecodeCursor(ovm.CursorSpend, p.Cursor)
		if start, _, ok := strings.Cut(last, "|"); err != nil || !ok || len(start) != 20 {
			return nil, "", ovm.Errorf(ovm.EInvalid, "invalid cursor: not a position in a spend list")
		} else if _, err := strconv.ParseUint(start, 10, 64); err != nil {
			return nil, "", ovm.Errorf(ovm.EInvalid, "invalid cursor: not a position in a spend list")
		}
		values[":last"] = str(last)
		cond += " AND gsi1sk > :last"
	}
	if !p.To.IsZero() {
		values[":to"] = str(fmt.Sprintf("%020d", p.To.UnixNano()))
		if p.Cursor != "" {
			cond = "gsi1pk = :part AND gsi1sk BETWEEN :last AND :to"
		} else {
			cond += " AND gsi1sk < :to"
		}
	}
	q := &dynamodb.QueryInput{IndexName: aws.String(gsiList), KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: values}
	if !p.From.IsZero() {
		values[":zero"], values[":from"] = num(0), num(p.From.UnixNano())
		q.FilterExpression = aws.String("lend = :zero OR lend > :from")
	}
	limit := p.EffectiveLimit()
	var out []*ovm.SpendLedger
	var derr error
	err := s.query(ctx, q, func(it item) bool {
		if last, ok := values[":last"]; ok && getS(it, "gsi1sk") == getS(item{"v": last}, "v") {
			return true // BETWEEN includes the cursor's own ledger
		}
		g, err := decodeLedger(it)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, g)
		return len(out) <= limit
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = ovm.EncodeCursor(ovm.CursorSpend, spendSortKey(out[limit-1]))
	}
	return out, next, nil
}

// SpendListOpen implements ovm.Store.
func (s *Store) SpendListOpen(ctx context.Context, limit int) ([]*ovm.SpendLedger, error) {
	var out []*ovm.SpendLedger
	var derr error
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiDirty), KeyConditionExpression: aws.String("gsi5pk = :p"),
		ExpressionAttributeValues: item{":p": str(spendOpen)}}, func(it item) bool {
		g, err := decodeLedger(it)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, g)
		return len(out) < limit
	})
	if err == nil {
		err = derr
	}
	return out, err
}
