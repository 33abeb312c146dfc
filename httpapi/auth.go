package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ovmdev/ovm"
)

// principal is the caller, identified by its API key.
type principal struct {
	KeyID string
	Name  string
	Role  ovm.Role
	// hash is the key's hash, to check again during a long wait.
	hash string
}

type principalKey struct{}

func (p *principal) admin() bool { return p.Role == ovm.RoleAdmin }

// authenticate resolves the bearer key. The key itself never reaches a log
// or an error message.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, ovm.Errorf(ovm.EUnauthorized, "missing bearer token: send Authorization: Bearer <api key>")
	}
	k, err := s.store.KeyGetByHash(r.Context(), ovm.HashKey(token))
	if errors.Is(err, ovm.ErrNotFound) || err == nil && k.Revoked() {
		return nil, ovm.Errorf(ovm.EUnauthorized, "invalid or revoked api key")
	}
	if err != nil {
		return nil, err
	}
	return &principal{KeyID: k.ID, Name: k.Name, Role: k.Role, hash: k.Hash}, nil
}

// stillValid checks again that p's key is not revoked (a long wait must not
// hand an account to a key revoked meanwhile).
func (s *Server) stillValid(ctx context.Context, p *principal) error {
	k, err := s.store.KeyGetByHash(ctx, p.hash)
	if errors.Is(err, ovm.ErrNotFound) || err == nil && k.Revoked() {
		return ovm.Errorf(ovm.EUnauthorized, "the api key was revoked while the request waited")
	}
	return err
}
