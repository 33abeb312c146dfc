// Package identity turns a request's credentials into a principal: an
// owner, who holds the leases, and a role. For now it verifies OIDC ID
// tokens, such as a CI job's token from GitHub Actions, sent as bearer
// tokens (docs/oidc.md); httpapi still looks up API keys itself.
//
// Signatures, issuer, audience and expiry are checked by go-oidc, with the
// issuer's discovery document and key set fetched lazily on the first
// token and cached (a token signed with an unknown key id fetches the key
// set again). Only asymmetric algorithms are accepted.
package identity

import (
	"context"
	"log/slog"
	"time"

	"github.com/ovmdev/ovm"
)

// Verifier verifies the ID tokens of the configured issuers. It is safe for
// concurrent use.
type Verifier struct {
	clock ovm.Clock
	log   *slog.Logger
}

// New returns a verifier of cfg's issuers. Nothing is fetched until the
// first token of an issuer arrives, so an issuer that is down does not
// stop OVM from starting.
func New(cfg Config, clock ovm.Clock, log *slog.Logger) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Verifier{clock: clock, log: log}, nil
}

// VerifyToken checks raw, an ID token, and returns its owner, its role and
// the last instant it is valid. Errors are *ovm.Error with a message safe
// to show: unauthorized for a token refused, unavailable when the
// issuer cannot be reached. Neither the token nor any part of its
// signature reaches a message or a log line.
func (v *Verifier) VerifyToken(ctx context.Context, raw string) (owner string, role ovm.Role, until time.Time, err error) {
	return "", "", time.Time{}, ovm.Errorf(ovm.EUnauthorized, "not implemented")
}
