package dynamostore

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
)

// Rolling upgrades. Replicas of two OVM versions may share a table while an
// upgrade rolls through them. An older replica would rewrite a record the
// newer one wrote and drop the fields it does not know (records are whole
// JSON documents), or vend by rules the newer one no longer follows. Two
// fences keep it from writing:
//
//   - Every item a replica writes carries its writer version (attribute wv),
//     and every write is conditioned on the stored item's being at most its
//     own: an older replica never replaces an item a newer one wrote. The
//     refusal is checked (only after a failed condition) and fences the
//     replica.
//   - The table's META / SCHEMA item holds the lowest writer version that
//     may write (mw). A replica raises it to its own at start; one whose
//     version is below it writes nothing (it starts read-only and stops
//     writing within fenceCheckEvery of a newer replica's start), so it
//     vends nothing by the older rules.
//
// A fenced replica answers reads; its writes fail with EUnavailable, which
// the API answers 503 (clients retry on a replica of the new version). The
// first version with the fences is writer version 1; items without wv were
// written before them.

// writerVersion is the version of the records and rules this build writes.
// Bump it whenever a release writes a field, or follows a rule, that an
// older release does not know (docs/upgrades.md).
var writerVersion int64 = 1

// WriterVersion is the writer version of this build.
func WriterVersion() int64 { return writerVersion }

// fenceCheckEvery is how often a replica reads the table's lowest writer
// version again before a write.
const fenceCheckEvery = 5 * time.Second

// versionAttr holds an item's writer version.
const versionAttr = "wv"

// fence is a store's view of the table's lowest writer version.
type fence struct {
	mu        sync.Mutex
	checkedAt time.Time
	// by is the writer version that fenced this replica (0: not fenced),
	// and why says how.
	by  int64
	why string
}

// Fenced reports why this replica writes nothing (nil: it writes): a newer
// OVM writes the table.
func (s *Store) Fenced() error {
	s.fence.mu.Lock()
	defer s.fence.mu.Unlock()
	if s.fence.by == 0 {
		return nil
	}
	return s.fencedError()
}

// fencedError is the error of every write of a fenced replica (mu held).
func (s *Store) fencedError() error {
	return &ovm.Error{Code: ovm.EUnavailable, RetryAfter: 5 * time.Second,
		Message: fmt.Sprintf("this replica (OVM writer version %d) writes nothing: %s; it answers reads only, replace it with the newer version (docs/upgrades.md)",
			writerVersion, s.fence.why)}
}

// setFenced fences this replica.
func (s *Store) setFenced(by int64, why string) {
	s.fence.mu.Lock()
	defer s.fence.mu.Unlock()
	if s.fence.by == 0 {
		s.fence.by, s.fence.why = by, why
	}
}

// writable is checked before every write: nil when this replica may write.
// The table's lowest writer version is read again every fenceCheckEvery.
func (s *Store) writable(ctx context.Context) error {
	s.fence.mu.Lock()
	if s.fence.by != 0 {
		defer s.fence.mu.Unlock()
		return s.fencedError()
	}
	now := s.clock.Now()
	due := now.Sub(s.fence.checkedAt) >= fenceCheckEvery
	if due {
		s.fence.checkedAt = now
	}
	s.fence.mu.Unlock()
	if !due {
		return nil
	}
	out, err := s.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key("META", "SCHEMA"),
		ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil // the write itself will tell
	}
	if mw := getN(out.Item, "mw"); mw > writerVersion {
		s.setFenced(mw, fmt.Sprintf("the table's lowest writer version is %d", mw))
		return s.Fenced()
	}
	return nil
}

// raiseFloor sets the table's lowest writer version to this build's, unless
// it is already as high, and fences this replica if it is higher.
func (s *Store) raiseFloor(ctx context.Context) error {
	_, err := s.raw.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(s.table), Key: key("META", "SCHEMA"),
		UpdateExpression:          aws.String("SET mw = :w"),
		ConditionExpression:       aws.String("attribute_not_exists(mw) OR mw < :w"),
		ExpressionAttributeValues: item{":w": num(writerVersion)}})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("dynamostore: raise the table's lowest writer version: %w", err)
	}
	out, err := s.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key("META", "SCHEMA"),
		ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("dynamostore: read the table's lowest writer version: %w", err)
	}
	if mw := getN(out.Item, "mw"); mw > writerVersion {
		s.setFenced(mw, fmt.Sprintf("the table's lowest writer version is %d", mw))
	}
	s.fence.mu.Lock()
	s.fence.checkedAt = s.clock.Now()
	s.fence.mu.Unlock()
	return nil
}

// fenced is the API every write of the store goes through: it refuses
// writes while the replica is fenced, stamps items with the writer
// version, and conditions each write on the stored item's version.
type fenced struct {
	API
	s *Store
}

// guardVersion returns cond with the writer-version condition, and names
// and values (copied) with its own.
func guardVersion(cond *string, names map[string]string, values map[string]types.AttributeValue) (*string, map[string]string, map[string]types.AttributeValue) {
	names, values = maps.Clone(names), maps.Clone(values)
	if names == nil {
		names = map[string]string{}
	}
	if values == nil {
		values = map[string]types.AttributeValue{}
	}
	names["#ovmwv"], values[":ovmwv"] = versionAttr, num(writerVersion)
	check := "(attribute_not_exists(#ovmwv) OR #ovmwv <= :ovmwv)"
	c := aws.ToString(cond)
	if c == "" {
		return aws.String(check), names, values
	}
	if !enclosed(c) {
		c = "(" + c + ")"
	}
	return aws.String(check + " AND " + c), names, values
}

// refused tells a write refused for the writer version from one refused
// for its own condition: after a failed condition, the item is read; an
// item of a newer writer fences this replica.
func (f fenced) refused(ctx context.Context, table *string, k map[string]types.AttributeValue, err error) error {
	if !isConditionFailed(err) {
		return err
	}
	out, gerr := f.s.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: k, ConsistentRead: aws.Bool(true)})
	if gerr != nil || out.Item == nil {
		return err
	}
	if wv := getN(out.Item, versionAttr); wv > writerVersion {
		f.s.setFenced(wv, fmt.Sprintf("item %s was written by writer version %d", getS(out.Item, "pk"), wv))
		return f.s.Fenced()
	}
	return err
}

func (f fenced) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := f.s.writable(ctx); err != nil {
		return nil, err
	}
	c := *in
	c.Item = maps.Clone(in.Item)
	c.Item[versionAttr] = num(writerVersion)
	c.ConditionExpression, c.ExpressionAttributeNames, c.ExpressionAttributeValues =
		guardVersion(in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	out, err := f.API.PutItem(ctx, &c, opts...)
	return out, f.refused(ctx, in.TableName, key(getS(in.Item, "pk"), getS(in.Item, "sk")), err)
}

func (f fenced) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := f.s.writable(ctx); err != nil {
		return nil, err
	}
	c := *in
	c.ConditionExpression, c.ExpressionAttributeNames, c.ExpressionAttributeValues =
		guardVersion(in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	if expr := aws.ToString(in.UpdateExpression); strings.HasPrefix(expr, "SET ") {
		c.UpdateExpression = aws.String("SET #ovmwv = :ovmwv, " + strings.TrimPrefix(expr, "SET "))
	} else {
		c.UpdateExpression = aws.String("SET #ovmwv = :ovmwv " + expr)
	}
	out, err := f.API.UpdateItem(ctx, &c, opts...)
	return out, f.refused(ctx, in.TableName, in.Key, err)
}

func (f fenced) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := f.s.writable(ctx); err != nil {
		return nil, err
	}
	c := *in
	c.ConditionExpression, c.ExpressionAttributeNames, c.ExpressionAttributeValues =
		guardVersion(in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	out, err := f.API.DeleteItem(ctx, &c, opts...)
	return out, f.refused(ctx, in.TableName, in.Key, err)
}
