package vault_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovmdev/ovm/vault"
	"github.com/ovmdev/ovm/vault/vaulttest"
)

func TestFileVaultConformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vault.Vault {
		d := t.TempDir()
		return &vault.File{Path: filepath.Join(d, "secrets.json"), KeyPath: filepath.Join(d, "secrets.key")}
	})
}

// golden copies testdata's secrets file and key, written by the vault when
// it lived in provider/signup, into a fresh directory.
func golden(t *testing.T) *vault.File {
	t.Helper()
	d := t.TempDir()
	for _, f := range []string{"secrets.json", "secrets.key"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return &vault.File{Path: filepath.Join(d, "secrets.json"), KeyPath: filepath.Join(d, "secrets.key")}
}

var goldenSecrets = map[string]string{
	"card-number":                "4111 1111 1111 1111",
	"root-password/acc_01golden": "pä$$ w0rd\nwith \"quotes\"",
	"webhook-secret":             "whsec-golden",
}

// An operator's existing secrets file opens after the move, and a new
// entry leaves the others' sealed bytes as they were.
func TestAnExistingSecretsFileStillOpens(t *testing.T) {
	v := golden(t)
	ctx := context.Background()
	for name, want := range goldenSecrets {
		if got, err := v.Get(ctx, name); err != nil || got != want {
			t.Fatalf("Get(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	before := sealed(t, v.Path)
	if err := v.Put(ctx, "new-entry", "new value"); err != nil {
		t.Fatal(err)
	}
	after := sealed(t, v.Path)
	for name := range goldenSecrets {
		if after[name] != before[name] {
			t.Fatalf("writing another entry changed %s's sealed value", name)
		}
	}
}

// The file's format, checked without the vault's own code: a JSON object
// from name to base64(nonce || AES-256-GCM(value, associated data: name)).
func TestTheSecretsFileFormatIsUnchanged(t *testing.T) {
	d := t.TempDir()
	v := &vault.File{Path: filepath.Join(d, "secrets.json"), KeyPath: filepath.Join(d, "secrets.key")}
	if err := v.Put(context.Background(), "root-password/acc_1", "hunter2"); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(v.KeyPath)
	if err != nil || len(key) != 32 {
		t.Fatalf("key file: %d bytes, %v", len(key), err)
	}
	for _, f := range []string{v.Path, v.KeyPath} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v; want 0600", f, st.Mode().Perm(), err)
		}
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	raw, err := base64.StdEncoding.DecodeString(sealed(t, v.Path)["root-password/acc_1"])
	if err != nil {
		t.Fatal(err)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte("root-password/acc_1"))
	if err != nil || string(plain) != "hunter2" {
		t.Fatalf("opened by hand: %q, %v", plain, err)
	}
}

func sealed(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s is not a JSON object of strings: %v", path, err)
	}
	return m
}

// A secret sealed under another name, or a file that does not open with
// the key, is an error naming the entry, never its value.
func TestASecretThatDoesNotOpenIsAnErrorWithoutItsValue(t *testing.T) {
	v := golden(t)
	m := sealed(t, v.Path)
	m["moved"] = m["webhook-secret"] // sealed with another name as associated data
	b, _ := json.Marshal(m)
	if err := os.WriteFile(v.Path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := v.Get(context.Background(), "moved")
	if err == nil || !strings.Contains(err.Error(), "moved") || strings.Contains(err.Error(), "whsec") {
		t.Fatalf("Get of a secret sealed as another name: %v", err)
	}
	if err := os.WriteFile(v.KeyPath, []byte("another-key-of-thirty-two-bytes!"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(context.Background(), "webhook-secret"); err == nil || strings.Contains(err.Error(), "whsec") {
		t.Fatalf("Get with another key: %v", err)
	}
}

type brokenVault struct{ err error }

func (b brokenVault) Put(context.Context, string, string) error { return b.err }
func (b brokenVault) Get(context.Context, string) (string, error) {
	return "", b.err
}

func TestResolveReadsSecretReferencesAndNamesTheKey(t *testing.T) {
	ctx := context.Background()
	v := golden(t)
	if got, err := vault.Resolve(ctx, v, "notify.webhooks[0].secret", "secret:webhook-secret"); err != nil || got != "whsec-golden" {
		t.Fatalf("a reference: %q, %v", got, err)
	}
	if got, err := vault.Resolve(ctx, v, "signup.contact.full_name", "Ada Ops"); err != nil || got != "Ada Ops" {
		t.Fatalf("a plain value: %q, %v", got, err)
	}
	_, err := vault.Resolve(ctx, v, "auth.oidc[0].console.client_secret", "secret:oidc-client")
	if err == nil || err.Error() != `auth.oidc[0].console.client_secret: secret "oidc-client" is not in the vault (ovm secret put oidc-client)` {
		t.Fatalf("a missing entry: %v", err)
	}
	if errors.Is(err, vault.ErrNoSecret) {
		t.Fatal("a missing entry's error wraps ErrNoSecret; it says what to do instead")
	}
	down := errors.New("secrets manager: reading ovm/x: throttled")
	_, err = vault.Resolve(ctx, brokenVault{down}, "signup.card.number", "secret:x")
	if !errors.Is(err, down) || !strings.HasPrefix(err.Error(), "signup.card.number: ") {
		t.Fatalf("a failing vault: %v", err)
	}
}
