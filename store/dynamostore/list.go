package dynamostore

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

func fromNS(n int64) time.Time { return time.Unix(0, n).UTC() }

// listKinds is the cursor kind of each list partition.
var listKinds = map[string]ovm.CursorKind{"ACCOUNTS": ovm.CursorAccounts, "LEASES": ovm.CursorLeases, "KEYS": ovm.CursorKeys,
	"DLV": ovm.CursorDeliveries}

// listByID pages through the records of list partition part (ACCOUNTS,
// LEASES, KEYS, DLV; or DLV#<state>, the outbox entries in one state, in
// the stock index) by id, ascending or not, with filters, calling each for
// every record of the page. The cursor holds the last id returned.
func (s *Store) listByID(ctx context.Context, part string, p ovm.PageParams, asc bool,
	filters []string, names map[string]string, values item, each func(item) error) (string, error) {
	limit := p.EffectiveLimit()
	index, pk, sk, kind := gsiList, "gsi1pk", "gsi1sk", listKinds[part]
	if strings.HasPrefix(part, "DLV#") {
		index, pk, sk, kind = gsiStock, "gsi3pk", "gsi3sk", ovm.CursorDeliveries
	}
	values = cloneItem(values)
	values[":part"] = str(part)
	cond := pk + " = :part"
	if p.Cursor != "" {
		last, err := ovm.DecodeCursor(kind, p.Cursor)
		if err != nil {
			return "", err
		}
		values[":last"] = str(last)
		if asc {
			cond += " AND " + sk + " > :last"
		} else {
			cond += " AND " + sk + " < :last"
		}
	}
	q := &dynamodb.QueryInput{IndexName: aws.String(index), KeyConditionExpression: aws.String(cond),
		ExpressionAttributeValues: values, ScanIndexForward: aws.Bool(asc)}
	if len(names) > 0 {
		q.ExpressionAttributeNames = names
	}
	if len(filters) > 0 {
		q.FilterExpression = aws.String(strings.Join(filters, " AND "))
	}
	var page []item
	err := s.query(ctx, q, func(it item) bool {
		page = append(page, it)
		return len(page) <= limit
	})
	if err != nil {
		return "", err
	}
	next := ""
	if len(page) > limit {
		page = page[:limit]
		next = ovm.EncodeCursor(kind, getS(page[limit-1], sk))
	}
	for _, it := range page {
		if err := each(it); err != nil {
			return "", err
		}
	}
	return next, nil
}

func cloneItem(it item) item {
	out := item{}
	for k, v := range it {
		out[k] = v
	}
	return out
}
