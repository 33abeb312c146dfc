package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
)

// TokenVerifier verifies a bearer token that is not an OVM API key: an
// OIDC ID token (identity.Verifier implements it).
type TokenVerifier interface {
	// Verify returns who the token names (owner, role, teams) and the last
	// instant it is valid, or an *ovm.Error whose message is safe to show
	// (unauthorized, or unavailable when the issuer cannot be reached).
	Verify(ctx context.Context, token string) (*ovm.TokenIdentity, error)
}

// principal is the caller, identified by its API key or by a token.
type principal struct {
	KeyID string // "" for a token
	Name  string // the key's name, or the token's owner
	Role  ovm.Role
	// Teams are the key's, or the token's groups (templates use them).
	Teams []string
	// hash is the key's hash, to check again during a long wait.
	hash string
	// until is when a token stops being valid (zero for a key).
	until time.Time
}

type principalKey struct{}

func (p *principal) admin() bool { return p.Role == ovm.RoleAdmin }

// requester is p as templates see it.
func (p *principal) requester() ovm.Requester {
	kind := "oidc"
	if p.KeyID != "" {
		kind = "key"
	}
	return ovm.Requester{Kind: kind, Name: p.Name, Teams: p.Teams}
}

// actor is the caller as the actor of an event: ovm.KeyActor for an API
// key, ovm.TokenActor for a token, never "key:" for what is not a key.
func (p *principal) actor() string {
	if p.KeyID != "" {
		return ovm.KeyActor(p.Name)
	}
	return ovm.TokenActor(p.Name)
}

// authenticate resolves the bearer token: an OVM API key (recognised by its
// form), else a token of Config.Tokens when set. Neither reaches a log or
// an error message.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, ovm.Errorf(ovm.EUnauthorized, "missing bearer token: send Authorization: Bearer <api key>")
	}
	if s.cfg.Tokens != nil && !ovm.IsKeySecret(token) {
		id, err := s.cfg.Tokens.Verify(r.Context(), token)
		if err != nil {
			return nil, err
		}
		return &principal{Name: id.Owner, Role: id.Role, Teams: id.Teams, until: id.Until}, nil
	}
	k, err := s.store.KeyGetByHash(r.Context(), ovm.HashKey(token))
	if errors.Is(err, ovm.ErrNotFound) || err == nil && k.Revoked() {
		return nil, ovm.Errorf(ovm.EUnauthorized, "invalid or revoked api key")
	}
	if err != nil {
		return nil, err
	}
	return &principal{KeyID: k.ID, Name: k.Name, Role: k.Role, Teams: k.Teams, hash: k.Hash}, nil
}

// stillValid checks again that p may act (a long wait must not hand an
// account to a key revoked or a token expired meanwhile).
func (s *Server) stillValid(ctx context.Context, p *principal) error {
	if p.KeyID == "" {
		if !s.clock.Now().Before(p.until) {
			return ovm.Errorf(ovm.EUnauthorized, "the token expired while the request waited")
		}
		return nil
	}
	k, err := s.store.KeyGetByHash(ctx, p.hash)
	if errors.Is(err, ovm.ErrNotFound) || err == nil && k.Revoked() {
		return ovm.Errorf(ovm.EUnauthorized, "the api key was revoked while the request waited")
	}
	return err
}
