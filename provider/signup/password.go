package signup

// This file makes root passwords: one per account, generated on first use
// and kept only in the vault, never in the store or a log.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ovmdev/ovm/vault"
)

// passwordKey names the vault secret of an account's root password.
func passwordKey(id string) string { return "root-password/" + id }

// password is the account's root password from the vault, made on first use.
func (p *Provider) password(ctx context.Context, id string) (string, error) {
	pw, err := p.deps.Vault.Get(ctx, passwordKey(id))
	if errors.Is(err, vault.ErrNoSecret) {
		pw = newPassword()
		if err := p.deps.Vault.Put(ctx, passwordKey(id), pw); err != nil {
			return "", fmt.Errorf("vault: %w", err)
		}
		return pw, nil
	}
	return pw, err
}

// newPassword draws 28 characters from an alphabet without look-alikes and
// ends with one of each class, whatever the site's rules ask for.
func newPassword() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-=?@^_"
	var b strings.Builder
	for b.Len() < 28 {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String() + "a7!Z" // every class, whatever the draw
}
