package webui

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"sync/atomic"
)

// sealer seals what the console hands to a browser to keep for it (a
// sign-in under way) with AES-256-GCM: the browser can neither read nor
// change it, and the console keeps nothing until the browser brings it
// back.
//
// The key is random, made when the process starts, and never leaves it.
// Sessions already live in one replica's memory, so a load balancer must
// send a browser back to the replica that signed it in (sticky sessions,
// docs/console.md); the sign-in's callback comes back to that replica in
// the same way. A restart forgets the key: sign-ins under way then fail
// ("sign in again"), as its sessions end. No secret is configured, stored
// or rotated.
//
// As the key is this process's alone, a nonce is a counter: never twice
// under one key, with no bound from random nonces' collisions. A key
// shared by several processes would need random nonces instead.
type sealer struct {
	aead  cipher.AEAD
	count atomic.Uint64
}

func newSealer() *sealer {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // a 32-byte key is valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &sealer{aead: aead}
}

// seal returns plain sealed for purpose (which open must name again), as
// text for a cookie.
func (s *sealer) seal(purpose string, plain []byte) string {
	nonce := make([]byte, s.aead.NonceSize())
	binary.BigEndian.PutUint64(nonce[len(nonce)-8:], s.count.Add(1))
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(purpose)))
}

// open returns what seal sealed for purpose; false when v was not sealed
// by this process for it, or was changed.
func (s *sealer) open(purpose, v string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	n := s.aead.NonceSize()
	if err != nil || len(b) < n+s.aead.Overhead() {
		return nil, false
	}
	plain, err := s.aead.Open(nil, b[:n], b[n:], []byte(purpose))
	return plain, err == nil
}
