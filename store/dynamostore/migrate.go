package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/ovmdev/ovm"
)

// Migrations bring the items of a table written by an older OVM to what
// this code expects. The table's schema version is item META / SCHEMA
// (attribute v, 0 when absent); Open runs the migrations above it in order
// and records each. Every migration is idempotent, so replicas that start
// together may both run one.
var migrations = []struct {
	name string
	run  func(*Store, context.Context) error
}{
	{"key names are unique without regard to case", (*Store).migrateKeyNameFold},
	{"the set of active admin keys", (*Store).migrateAdminSet},
	{"what the retention deletes is on the time index; misses are counts", (*Store).migrateRetention},
}

func (s *Store) migrate(ctx context.Context) error {
	it, err := s.get(ctx, "META", "SCHEMA")
	if err != nil {
		return fmt.Errorf("dynamostore: read schema version: %w", err)
	}
	// A table that a newer OVM migrated is opened read-only: this binary
	// would not keep the newer schema's rules, and the version item only
	// ever goes up. It answers reads while a rolling upgrade replaces it
	// (fence.go).
	if have, know := getN(it, "v"), int64(len(migrations)); have > know {
		s.setFenced(have, (&ovm.NewerSchemaError{Store: "dynamostore: table " + s.table, Have: have, Know: know}).Error())
		return nil
	}
	for v := getN(it, "v"); v < int64(len(migrations)); v++ {
		m := migrations[v]
		if err := m.run(s, ctx); err != nil {
			return fmt.Errorf("dynamostore: migration %d (%s): %w", v+1, m.name, err)
		}
		_, err := s.apply(ctx, "META", "SCHEMA", &change{set: item{"v": num(v + 1)},
			cond: "attribute_not_exists(v) OR v < :v", values: item{":v": num(v + 1)}})
		if err != nil && !errors.Is(err, ovm.ErrConflict) { // a conflict: another replica recorded it
			return fmt.Errorf("dynamostore: record migration %d: %w", v+1, err)
		}
	}
	return nil
}

// allKeys returns every key, oldest first.
func (s *Store) allKeys(ctx context.Context) ([]*ovm.APIKey, error) {
	var out []*ovm.APIKey
	var derr error
	err := s.query(ctx, &dynamodb.QueryInput{IndexName: aws.String(gsiList), KeyConditionExpression: aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: item{":p": str("KEYS")}}, func(it item) bool {
		k, err := decodeKey(it)
		if err != nil {
			derr = err
			return false
		}
		out = append(out, k)
		return true
	})
	if err == nil {
		err = derr
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// migrateKeyNameFold claims the lower-cased name marker of every key.
// Keys made before names were unique without regard to case that differ
// only in case keep working: the oldest holds the marker, which keeps new
// keys from taking any of their names.
func (s *Store) migrateKeyNameFold(ctx context.Context) error {
	keys, err := s.allKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.claimMarker(ctx, keyNamePK(k.Name), k.ID); err != nil && !errors.Is(err, ovm.ErrConflict) {
			return err
		}
	}
	return nil
}
