// Package vault keeps OVM's secrets by name, out of the store: root
// passwords and browser sessions of the signup provider, card and contact
// data, captcha-solver and mailbox keys, webhook signing secrets and OIDC
// client secrets. The configuration names an entry as "secret:NAME"
// (Resolve reads it); `ovm secret put NAME` writes one.
//
// There is one interface, Vault, and two implementations chosen by the
// `secrets:` block: File, a local file of sealed secrets (the embedded
// default), and vault/smvault on AWS Secrets Manager. Both pass the
// conformance suite vault/vaulttest.
//
// The package is shared by everything that reads a secret, so it imports no
// provider and nothing heavier than the standard library (deps_test.go
// enforces it): reading a webhook secret must not pull in a browser.
package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Vault keeps secrets by name. Values are opaque strings (a password, a
// JSON of cookies, a key); names are paths such as "root-password/ID".
type Vault interface {
	// Put stores value as name, replacing an earlier value.
	Put(ctx context.Context, name, value string) error
	// Get returns the value of name, or an error wrapping ErrNoSecret
	// when the vault has none.
	Get(ctx context.Context, name string) (string, error)
}

// ErrNoSecret means the vault has no secret of that name.
var ErrNoSecret = errors.New("no such secret")

// RefPrefix marks a configuration value that names a vault entry.
const RefPrefix = "secret:"

// Resolve returns the value a configuration key holds: for "secret:NAME"
// the vault's entry NAME, for anything else the value itself. Errors name
// key and the entry, never a value; a missing entry says how to add it.
func Resolve(ctx context.Context, v Vault, key, value string) (string, error) {
	name, ok := strings.CutPrefix(value, RefPrefix)
	if !ok {
		return value, nil
	}
	s, err := v.Get(ctx, name)
	if errors.Is(err, ErrNoSecret) {
		return "", fmt.Errorf("%s: secret %q is not in the vault (ovm secret put %s)", key, name, name)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return s, nil
}
