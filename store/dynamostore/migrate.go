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
}

// ErrNewerSchema is what Open returns (wrapped in a *NewerSchemaError)
// for a table that a newer OVM has migrated beyond the migrations this
// binary knows.
var ErrNewerSchema = errors.New("store schema newer than this binary")

// NewerSchemaError is a table at schema version Have (item META / SCHEMA),
// above Know, the number of migrations this binary has. Open refuses it
// without writing anything: an older binary does not keep the newer
// schema's rules, and migrations are never undone.
type NewerSchemaError struct {
	Table      string
	Have, Know int64
}

// Error names the table, both versions and what to do.
func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("dynamostore: table %s is at schema version %d, but this ovm binary knows versions up to %d: "+
		"a newer ovm has migrated it. Run an ovm binary at least as new as the one that wrote it, "+
		"or restore the table from a backup taken before the upgrade; ovm never downgrades a store (docs/upgrades.md)",
		e.Table, e.Have, e.Know)
}

// Unwrap makes errors.Is(err, ErrNewerSchema) true.
func (e *NewerSchemaError) Unwrap() error { return ErrNewerSchema }

func (s *Store) migrate(ctx context.Context) error {
	it, err := s.get(ctx, "META", "SCHEMA")
	if err != nil {
		return fmt.Errorf("dynamostore: read schema version: %w", err)
	}
	// A table that a newer OVM migrated is refused before anything is
	// written: this binary would not keep the newer schema's rules, and
	// the version item only ever goes up.
	if have, know := getN(it, "v"), int64(len(migrations)); have > know {
		return &NewerSchemaError{Table: s.table, Have: have, Know: know}
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
