package ovm

import (
	"errors"
	"fmt"
)

// ErrNewerSchema is what a store's Open returns (wrapped in a
// *NewerSchemaError) for a store that a newer OVM has migrated beyond the
// migrations this binary knows.
var ErrNewerSchema = errors.New("store schema newer than this binary")

// NewerSchemaError is a store at schema version Have, above Know, the
// newest migration this binary has. Open refuses it without writing
// anything: an older binary does not keep the newer schema's rules, and
// migrations are never undone.
type NewerSchemaError struct {
	// Store names the store: "sqlitestore: /data/ovm.db",
	// "dynamostore: table ovm".
	Store      string
	Have, Know int64
}

// Error names the store, both versions and what to do.
func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("%s is at schema version %d, but this ovm binary knows versions up to %d: "+
		"a newer ovm has migrated it. Run an ovm binary at least as new as the one that wrote it, "+
		"or restore a backup taken before the upgrade; ovm never downgrades a store (docs/upgrades.md)",
		e.Store, e.Have, e.Know)
}

// Unwrap makes errors.Is(err, ErrNewerSchema) true.
func (e *NewerSchemaError) Unwrap() error { return ErrNewerSchema }
