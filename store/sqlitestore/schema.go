package sqlitestore

import (
	"errors"
	"fmt"
)

// ErrNewerSchema is what Open returns (wrapped in a *NewerSchemaError)
// for a database that a newer OVM has migrated beyond the migrations
// this binary embeds.
var ErrNewerSchema = errors.New("store schema newer than this binary")

// NewerSchemaError is a database at schema version Have, above Know, the
// newest migration this binary embeds. Open refuses it without writing
// anything: an older binary does not keep the newer schema's rules, and
// migrations are never undone.
type NewerSchemaError struct {
	Path       string
	Have, Know int
}

// Error names the database, both versions and what to do.
func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("sqlitestore: %s is at schema version %d, but this ovm binary knows versions up to %d: "+
		"a newer ovm has migrated it. Run an ovm binary at least as new as the one that wrote it, "+
		"or restore a backup taken before the upgrade; ovm never downgrades a store (docs/upgrades.md)",
		e.Path, e.Have, e.Know)
}

// Unwrap makes errors.Is(err, ErrNewerSchema) true.
func (e *NewerSchemaError) Unwrap() error { return ErrNewerSchema }
