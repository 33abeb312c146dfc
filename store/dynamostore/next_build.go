//go:build ovmnext

package dynamostore

import (
	"context"

	"github.com/ovmdev/ovm"
)

// This file turns a build into the "next" OVM of the rolling-upgrade test
// (cmd/ovm's TestARollingUpgradeOnDynamoDBLosesNothing, built with -tags
// ovmnext): a newer writer version, one more migration (a newer schema),
// and a field in every account record that the current version does not
// know. It is never part of a release build.
func init() {
	writerVersion++
	migrations = append(migrations, struct {
		name string
		run  func(*Store, context.Context) error
	}{"next: a migration of the next version", func(*Store, context.Context) error { return nil }})
	jsonExtra = func(v any) map[string]any {
		if _, ok := v.(*ovm.Account); ok {
			return map[string]any{"next_field": "kept"}
		}
		return nil
	}
}
