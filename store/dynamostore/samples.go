package dynamostore

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

// Pool samples are a ring of items per pool: pk HIST#<pool>, sk S#<slot>.
func samplePK(pool string) string { return "HIST#" + pool }

// PoolSamplePut implements ovm.Store: one unconditional put (the same
// sample twice is the same item).
func (s *Store) PoolSamplePut(ctx context.Context, p *ovm.PoolSample) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item{
		"pk": str(samplePK(p.Pool)), "sk": str(fmt.Sprintf("S#%03d", ovm.SampleSlot(p.At))),
		"at": num(p.At.UnixNano()), "ready": num(int64(p.Ready)), "target": num(int64(p.Target))}})
	return err
}

// PoolSampleList implements ovm.Store: one query of the pool's ring.
func (s *Store) PoolSampleList(ctx context.Context, pool string, since time.Time) ([]*ovm.PoolSample, error) {
	var out []*ovm.PoolSample
	err := s.query(ctx, &dynamodb.QueryInput{KeyConditionExpression: aws.String("pk = :p"),
		ExpressionAttributeValues: item{":p": str(samplePK(pool))}}, func(it item) bool {
		if t := time.Unix(0, getN(it, "at")).UTC(); !t.Before(since) {
			out = append(out, &ovm.PoolSample{Pool: pool, At: t, Ready: int(getN(it, "ready")), Target: int(getN(it, "target"))})
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, err
}
