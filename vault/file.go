package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/ovmdev/ovm/internal/atomicfile"
)

// File is the embedded vault: a file of AES-256-GCM sealed secrets, with
// the key in a separate file (mode 0600) created on first use. The secrets
// file is a JSON object from each name to the base64 of nonce and sealed
// value, the name being the associated data; a lock file beside it lets
// the server and `ovm secret put` write at the same time.
type File struct {
	Path    string // the sealed secrets (secrets.file, default DATA/secrets.json)
	KeyPath string // the key (secrets.key_file, default DATA/secrets.key)
	mu      sync.Mutex
}

var _ Vault = (*File)(nil)

func (v *File) key() (cipher.AEAD, error) {
	k, err := os.ReadFile(v.KeyPath)
	if errors.Is(err, os.ErrNotExist) {
		k = make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		if err := atomicfile.Write(v.KeyPath, k, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("vault key %s is not 32 bytes", v.KeyPath)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (v *File) load() (map[string]string, error) {
	m := map[string]string{}
	b, err := os.ReadFile(v.Path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	return m, json.Unmarshal(b, &m)
}

// lock takes the vault's file lock: the server and `ovm secret put` may
// write it at the same time.
func (v *File) lock() (func(), error) {
	v.mu.Lock()
	if err := os.MkdirAll(filepath.Dir(v.Path), 0o700); err != nil {
		v.mu.Unlock()
		return nil, err
	}
	f, err := os.OpenFile(v.Path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		v.mu.Unlock()
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		v.mu.Unlock()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close(); v.mu.Unlock() }, nil
}

// Put implements Vault: the value is sealed with the name as associated data.
func (v *File) Put(ctx context.Context, name, value string) error {
	unlock, err := v.lock()
	if err != nil {
		return err
	}
	defer unlock()
	aead, err := v.key()
	if err != nil {
		return err
	}
	m, err := v.load()
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	m[name] = base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(value), []byte(name)))
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.MkdirAll(filepath.Dir(v.Path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(v.Path, b, 0o600)
}

// Get implements Vault.
func (v *File) Get(ctx context.Context, name string) (string, error) {
	unlock, err := v.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	m, err := v.load()
	if err != nil {
		return "", err
	}
	sealed, ok := m[name]
	if !ok {
		return "", ErrNoSecret
	}
	aead, err := v.key()
	if err != nil {
		return "", err
	}
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < aead.NonceSize() {
		return "", fmt.Errorf("vault: secret %s is damaged", name)
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(name))
	if err != nil {
		return "", fmt.Errorf("vault: secret %s does not open with this key", name)
	}
	return string(plain), nil
}
