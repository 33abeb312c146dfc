// Package dynamostore is the distributed OVM store on Amazon DynamoDB: one
// table shared by any number of `ovm serve` replicas.
//
// The design (docs/scaling.md) makes the account item the unit of
// atomicity: an account's state, its active lease and its event log live in
// its item, so every state change, every vend and every lease end is ONE
// conditional write on (state, version) of one item. No multi-item
// transaction is needed, which also makes the store run on DynamoDB
// implementations without TransactWriteItems (dynalite). What must be unique
// across items (e-mail, name, AWS id, key name and hash) is claimed first with
// conditional marker items owned by the record's id. Lease items are copies
// written right after the account's write; the account item carries the
// pending copy until it is written, so a crash in between is finished by
// Repair. Queries for due work, expired leases, stock and per-owner counts
// use sparse global secondary indexes, never a scan.
package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
)

// API is the part of DynamoDB the store uses.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	// Scan is used once, by the migration that puts old items on the
	// retention's index.
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Options configures Open.
type Options struct {
	// Table is the table's name.
	Table string
	// CreateTable lets Open create the table (on-demand capacity) when it
	// does not exist.
	CreateTable bool
	// Clock times the checks of the table's lowest writer version
	// (default: the system clock).
	Clock ovm.Clock
}

// Store implements ovm.Store on DynamoDB.
type Store struct {
	db    API // every write goes through the fences (fence.go) and the write tokens
	raw   API // the client itself: reads of the fences' own state
	table string
	clock ovm.Clock
	seq   atomic.Int64 // orders this process's pool events of one instant
	fence fence
}

var (
	_ ovm.Store    = (*Store)(nil)
	_ ovm.Repairer = (*Store)(nil)
)

// Open returns a store on table, creating it when allowed.
func Open(ctx context.Context, db API, opts Options) (*Store, error) {
	if opts.Table == "" {
		return nil, errors.New("dynamostore: no table name")
	}
	if opts.Clock == nil {
		opts.Clock = ovm.SystemClock()
	}
	s := &Store{raw: db, table: opts.Table, clock: opts.Clock}
	s.db = fenced{API: tokened{db}, s: s}
	_, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(opts.Table)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf) && opts.CreateTable:
		if err := s.createTable(ctx); err != nil {
			return nil, err
		}
	case errors.As(err, &nf):
		return nil, fmt.Errorf("dynamostore: table %q does not exist; create it (docs/scaling.md) or set dynamodb.create_table: true", opts.Table)
	case err != nil:
		return nil, fmt.Errorf("dynamostore: describe table %s: %w", opts.Table, err)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if err := s.raiseFloor(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close implements ovm.Store (the client needs no closing).
func (s *Store) Close() error { return nil }

// Index names and their keys (docs/scaling.md has the access patterns).
const (
	gsiList  = "gsi1" // gsi1pk S / gsi1sk S: ACCOUNTS|LEASES|KEYS by id
	gsiTime  = "gsi2" // gsi2pk S / gsi2sk N: DUE (working accounts), LEXP (active leases), LEDT#<ledger>
	gsiStock = "gsi3" // gsi3pk S / gsi3sk S: <pool>#<state>, by state change time
	gsiOwner = "gsi4" // gsi4pk S / gsi4sk S: OWNER#<owner> for accounts with an active lease
	gsiDirty = "gsi5" // gsi5pk S / gsi5sk S: DIRTY for accounts whose lease copy is not written yet
)

func (s *Store) createTable(ctx context.Context) error {
	attr := func(name string, t types.ScalarAttributeType) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: t}
	}
	gsi := func(name, pk, sk string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{IndexName: aws.String(name), Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			KeySchema: []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(sk), KeyType: types.KeyTypeRange}}}
	}
	_, err := s.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(s.table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{attr("pk", "S"), attr("sk", "S"), attr("gsi1pk", "S"), attr("gsi1sk", "S"),
			attr("gsi2pk", "S"), attr("gsi2sk", "N"), attr("gsi3pk", "S"), attr("gsi3sk", "S"), attr("gsi4pk", "S"),
			attr("gsi4sk", "S"), attr("gsi5pk", "S"), attr("gsi5sk", "S")},
		KeySchema: []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{gsi(gsiList, "gsi1pk", "gsi1sk"), gsi(gsiTime, "gsi2pk", "gsi2sk"),
			gsi(gsiStock, "gsi3pk", "gsi3sk"), gsi(gsiOwner, "gsi4pk", "gsi4sk"), gsi(gsiDirty, "gsi5pk", "gsi5sk")},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("dynamostore: create table %s: %w", s.table, err)
	}
	for range 120 {
		out, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
		if err == nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("dynamostore: table %s did not become active", s.table)
}

// item is one DynamoDB item.
type item = map[string]types.AttributeValue

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func key(pk, sk string) item { return item{"pk": str(pk), "sk": str(sk)} }

func getS(it item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func getN(it item, name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

func getL(it item, name string) []string {
	l, ok := it[name].(*types.AttributeValueMemberL)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(l.Value))
	for _, v := range l.Value {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out = append(out, s.Value)
		}
	}
	return out
}

func list(values ...string) types.AttributeValue {
	l := make([]types.AttributeValue, len(values))
	for i, v := range values {
		l[i] = str(v)
	}
	return &types.AttributeValueMemberL{Value: l}
}

// isConditionFailed reports a failed condition expression.
func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

func (s *Store) get(ctx context.Context, pk, sk string) (item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

// releaseMarker deletes marker item pk if owner still owns it. It is best
// effort: a marker left behind keeps a name or a hash taken, no more.
func (s *Store) releaseMarker(ctx context.Context, pk, owner string) {
	s.db.DeleteItem(context.WithoutCancel(ctx), &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(pk, "M"),
		ConditionExpression: aws.String("#o = :o"), ExpressionAttributeNames: map[string]string{"#o": "owner"},
		ExpressionAttributeValues: item{":o": str(owner)}})
}

// claimMarker makes marker item pk owned by owner, or confirms it is
// already; ErrConflict if another owns it.
func (s *Store) claimMarker(ctx context.Context, pk, owner string) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table),
		Item:                      item{"pk": str(pk), "sk": str("M"), "owner": str(owner)},
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #o = :o"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner"},
		ExpressionAttributeValues: item{":o": str(owner)}})
	if isConditionFailed(err) {
		return fmt.Errorf("%s is taken: %w", pk, ovm.ErrConflict)
	}
	return err
}

// marker returns the owner of marker pk, or "".
func (s *Store) marker(ctx context.Context, pk string) (string, error) {
	it, err := s.get(ctx, pk, "M")
	if err != nil {
		return "", err
	}
	return getS(it, "owner"), nil
}

// query runs q through all its pages, calling fn for each item until fn
// returns false.
func (s *Store) query(ctx context.Context, q *dynamodb.QueryInput, fn func(item) bool) error {
	q.TableName = aws.String(s.table)
	for {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return err
		}
		for _, it := range out.Items {
			if !fn(it) {
				return nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// count counts the items of an index partition (and sort-key condition).
func (s *Store) count(ctx context.Context, index, cond string, values item) (int, error) {
	q := &dynamodb.QueryInput{TableName: aws.String(s.table), IndexName: aws.String(index), Select: types.SelectCount,
		KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: values}
	n := 0
	for {
		out, err := s.db.Query(ctx, q)
		if err != nil {
			return 0, err
		}
		n += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return n, nil
		}
		q.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
