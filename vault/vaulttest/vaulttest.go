// Package vaulttest is the conformance suite every vault.Vault passes: the
// local sealed file (vault.File) and AWS Secrets Manager (vault/smvault)
// behave the same to everything that reads a secret.
package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ovmdev/ovm/vault"
)

// Run runs the suite; newVault returns an empty vault for each case.
func Run(t *testing.T, newVault func(t *testing.T) vault.Vault) {
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		t.Cleanup(cancel)
		return c
	}
	t.Run("MissingIsErrNoSecret", func(t *testing.T) {
		v := newVault(t)
		if _, err := v.Get(ctx(t), "root-password/acc-missing"); !errors.Is(err, vault.ErrNoSecret) {
			t.Fatalf("Get of a missing secret = %v, want ErrNoSecret", err)
		}
	})
	t.Run("PutThenGetAndOverwrite", func(t *testing.T) {
		v := newVault(t)
		c := ctx(t)
		value := "pä$$ w0rd\nwith a newline and \"quotes\""
		if err := v.Put(c, "root-password/acc-1", value); err != nil {
			t.Fatal(err)
		}
		if got, err := v.Get(c, "root-password/acc-1"); err != nil || got != value {
			t.Fatalf("Get = %q, %v; want %q", got, err, value)
		}
		if err := v.Put(c, "root-password/acc-1", "second"); err != nil {
			t.Fatal(err)
		}
		if got, err := v.Get(c, "root-password/acc-1"); err != nil || got != "second" {
			t.Fatalf("Get after overwrite = %q, %v", got, err)
		}
	})
	t.Run("NamesAreDistinct", func(t *testing.T) {
		v := newVault(t)
		c := ctx(t)
		for _, n := range []string{"card_number", "root-password/acc-1", "root-password/acc-10", "browser-session/acc-1"} {
			if err := v.Put(c, n, "value of "+n); err != nil {
				t.Fatal(err)
			}
		}
		for _, n := range []string{"card_number", "root-password/acc-1", "root-password/acc-10", "browser-session/acc-1"} {
			if got, err := v.Get(c, n); err != nil || got != "value of "+n {
				t.Fatalf("Get(%s) = %q, %v", n, got, err)
			}
		}
	})
	t.Run("ConcurrentPutsLoseNothing", func(t *testing.T) {
		v := newVault(t)
		c := ctx(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := v.Put(c, fmt.Sprintf("root-password/acc-%d", i), fmt.Sprintf("pw-%d", i)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		for i := range 8 {
			if got, err := v.Get(c, fmt.Sprintf("root-password/acc-%d", i)); err != nil || got != fmt.Sprintf("pw-%d", i) {
				t.Fatalf("secret %d = %q, %v", i, got, err)
			}
		}
	})
	t.Run("LargeSessionFits", func(t *testing.T) {
		v := newVault(t)
		c := ctx(t)
		big := strings.Repeat("cookie=value; ", 2000) // a browser session is tens of KiB
		if err := v.Put(c, "browser-session/acc-1", big); err != nil {
			t.Fatal(err)
		}
		if got, err := v.Get(c, "browser-session/acc-1"); err != nil || got != big {
			t.Fatalf("large secret: len %d, %v", len(got), err)
		}
	})
}
