package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

// A lease's spend ledger is one item, pk SPEND#<lease>, sk L: the ledger's
// JSON in doc, its summary's in sum, its version, and index entries: gsi1
// partition SPEND and gsi3 partition SPOWN#<owner> by lease start
// (reports), gsi5 partition SPOPEN while the ledger is not final (the
// spend worker), gsi2 partition SPFIN by lease end once it is (retention).
// One conditional put on the version is the whole write, the summary with
// it. Lists ask for the summary alone (ProjectionExpression): DynamoDB
// still reads the whole item, but OVM decodes a few hundred bytes. The
// ledger's bounds (ovm.MaxSpendResources, ovm.MaxSpendSeen) keep the item
// under DynamoDB's 400 KB.
func spendPK(lease string) string { return "SPEND#" + lease }

const (
	spendList  = "SPEND"
	spendOpen  = "SPOPEN"
	spendFinal = "SPFIN"
)

func spendOwner(owner string) string { return "SPOWN#" + owner }

func spendSortKey(leaseStart time.Time, lease string) string {
	return fmt.Sprintf("%020d|%s", leaseStart.UnixNano(), lease)
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
	return ovm.DecodeSpendLedger([]byte(getS(it, "doc")))
}

// SpendPut implements ovm.Store.
func (s *Store) SpendPut(ctx context.Context, g *ovm.SpendLedger) error {
	doc, sum, err := g.Encode()
	if err != nil {
		return err
	}
	end := int64(0)
	if !g.LeaseEnd.IsZero() {
		end = g.LeaseEnd.UnixNano()
	}
	sk := spendSortKey(g.LeaseStart, g.LeaseID)
	it := item{"pk": str(spendPK(g.LeaseID)), "sk": str("L"), "doc": str(string(doc)), "sum": str(string(sum)), "version": num(g.Version),
		"lend": num(end), "gsi1pk": str(spendList), "gsi1sk": str(sk), "gsi3pk": str(spendOwner(g.Owner)), "gsi3sk": str(sk)}
	if g.Final {
		it["gsi2pk"], it["gsi2sk"] = str(spendFinal), num(end)
	} else {
		it["gsi5pk"], it["gsi5sk"] = str(spendOpen), str(sk)
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

func decodeSummary(it item) (*ovm.SpendSummary, error) {
	return ovm.DecodeSpendSummary([]byte(getS(it, "sum")))
}

// SpendList implements ovm.Store: one query of the SPEND partition, or of
// the owner's, by lease start, the end filtered.
func (s *Store) SpendList(ctx context.Context, p *ovm.SpendListParams) ([]*ovm.SpendSummary, string, error) {
	index, pk, skName := gsiList, spendList, "gsi1sk"
	if p.Owner != "" {
		index, pk, skName = gsiStock, spendOwner(p.Owner), "gsi3sk"
	}
	values := item{":part": str(pk)}
	cond := strings.TrimSuffix(skName, "sk") + "pk = :part"
	last := ""
	if p.Cursor != "" {
		var err error
		last, err = ovm.DecodeCursor(ovm.CursorSpend, p.Cursor)
		start, _, ok := strings.Cut(last, "|")
		if _, perr := strconv.ParseUint(start, 10, 64); err != nil || !ok || len(start) != 20 || perr != nil {
			return nil, "", ovm.Errorf(ovm.EInvalid, "invalid cursor: not a position in a spend list")
		}
		values[":last"] = str(last)
	}
	switch {
	case last != "" && !p.To.IsZero():
		values[":to"] = str(fmt.Sprintf("%020d", p.To.UnixNano()))
		cond += " AND " + skName + " BETWEEN :last AND :to" // the cursor's own item is skipped below
	case last != "":
		cond += " AND " + skName + " > :last"
	case !p.To.IsZero():
		values[":to"] = str(fmt.Sprintf("%020d", p.To.UnixNano()))
		cond += " AND " + skName + " < :to"
	}
	q := &dynamodb.QueryInput{IndexName: aws.String(index), KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: values,
		ProjectionExpression: aws.String("#s, " + skName), ExpressionAttributeNames: map[string]string{"#s": "sum"}}
	if !p.From.IsZero() {
		values[":zero"], values[":from"] = num(0), num(p.From.UnixNano())
		q.FilterExpression = aws.String("lend = :zero OR lend > :from")
		q.ProjectionExpression = aws.String("#s, " + skName + ", lend")
	}
	limit := p.EffectiveLimit()
	var out []*ovm.SpendSummary
	var derr error
	err := s.query(ctx, q, func(it item) bool {
		if last != "" && getS(it, skName) == last {
			return true
		}
		sum, err := decodeSummary(it)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, sum)
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
		next = ovm.EncodeCursor(ovm.CursorSpend, spendSortKey(out[limit-1].LeaseStart, out[limit-1].LeaseID))
	}
	return out, next, nil
}

// SpendListOpen implements ovm.Store.
func (s *Store) SpendListOpen(ctx context.Context, limit int) ([]*ovm.SpendSummary, error) {
	var out []*ovm.SpendSummary
	var derr error
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiDirty), KeyConditionExpression: aws.String("gsi5pk = :p"),
		ExpressionAttributeValues: item{":p": str(spendOpen)}, ProjectionExpression: aws.String("#s"),
		ExpressionAttributeNames: map[string]string{"#s": "sum"}}, func(it item) bool {
		sum, err := decodeSummary(it)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, sum)
		return len(out) < limit
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// SpendPrune implements ovm.Store: final ledgers by lease end (a final
// ledger is never written again), deleted one by one.
func (s *Store) SpendPrune(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	var keys []item
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiTime), KeyConditionExpression: aws.String("gsi2pk = :p AND gsi2sk < :c"),
		ExpressionAttributeValues: item{":p": str(spendFinal), ":c": num(cutoff.UnixNano())}, ProjectionExpression: aws.String("pk, sk")},
		func(it item) bool {
			keys = append(keys, key(getS(it, "pk"), getS(it, "sk")))
			return len(keys) < limit
		})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: k}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
