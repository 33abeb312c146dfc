package ovm

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"time"
)

// Role is what an API key may do.
type Role string

const (
	// RoleAdmin may do everything, including keys and account actions.
	RoleAdmin Role = "admin"
	// RoleUser may vend, and see and manage its own leases, and read pools.
	RoleUser Role = "user"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleUser }

// APIKey is a credential of the HTTP API. Only a hash of the secret is kept.
type APIKey struct {
	ID   string `json:"id"`
	Name string `json:"name"` // unique; the principal that owns leases
	Role Role   `json:"role"`
	// Hash is HashKey(secret); the secret itself is shown once and never stored.
	Hash      string    `json:"hash"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at"`
	// Teams are the key's teams (templates' allowed and max_per_team).
	Teams []string `json:"teams,omitempty"`
}

// MaxTeams bounds the teams of one key or token.
const MaxTeams = 50

// CheckTeams checks a list of teams: valid names, none twice, at most
// MaxTeams.
func CheckTeams(teams []string) error {
	if len(teams) > MaxTeams {
		return Errorf(EInvalid, "%d teams: at most %d", len(teams), MaxTeams)
	}
	seen := map[string]bool{}
	for _, t := range teams {
		if err := CheckTeamName(t); err != nil {
			return err
		}
		if seen[t] {
			return Errorf(EInvalid, "team %q is listed twice", t)
		}
		seen[t] = true
	}
	return nil
}

// Revoked reports whether k may no longer be used.
func (k *APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// keySecretPrefix makes OVM keys recognisable by secret scanners.
const keySecretPrefix = "ovm_"

var keyNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)

// NewAPIKey makes a key named name with role, and returns it with its secret.
// The secret has 256 random bits; only its hash is in the returned key.
func NewAPIKey(name string, role Role, now time.Time) (*APIKey, string, error) {
	if !keyNameRe.MatchString(name) {
		return nil, "", Errorf(EInvalid, "key name %q must be 1-128 letters, digits, '.', '_', '@' or '-'", name)
	}
	if !role.Valid() {
		return nil, "", Errorf(EInvalid, "role %q must be admin or user", role)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	secret := keySecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return &APIKey{ID: NewID("key", now), Name: name, Role: role, Hash: HashKey(secret), CreatedAt: now}, secret, nil
}

var keySecretRe = regexp.MustCompile(`^ovm_[A-Za-z0-9_-]{43}$`)

// IsKeySecret reports whether s has the form of a secret NewAPIKey makes.
func IsKeySecret(s string) bool { return keySecretRe.MatchString(s) }

// HashKey is the stored form of a key secret. Secrets are 256-bit random, so
// a plain SHA-256 is enough (no password stretching needed).
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	return hex.EncodeToString(sum[:])
}
