package signup_test

import (
	"path/filepath"
	"testing"

	"github.com/ovmdev/ovm/provider/signup"
	"github.com/ovmdev/ovm/provider/signup/vaulttest"
)

func TestFileVaultConformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) signup.Vault {
		d := t.TempDir()
		return &signup.FileVault{Path: filepath.Join(d, "secrets.json"), KeyPath: filepath.Join(d, "secrets.key")}
	})
}
