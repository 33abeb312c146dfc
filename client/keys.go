package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/ovmdev/ovm"
)

// Key is the JSON of an API key; Key (the secret) only on creation.
type Key struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      ovm.Role   `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Teams     []string   `json:"teams,omitempty"`
	Key       string     `json:"key,omitempty"`
}

// KeyRequest is the body of POST /v1/keys.
type KeyRequest struct {
	Name string   `json:"name"`
	Role ovm.Role `json:"role"`
	// Teams are the key's teams (for templates' allowed and max_per_team).
	Teams []string `json:"teams,omitempty"`
}

// Me is the answer of GET /v1/me: who the caller is.
type Me struct {
	Name string   `json:"name"`
	Role ovm.Role `json:"role"`
	// Kind is "key" for an API key, "token" for an OIDC token.
	Kind string `json:"kind"`
	// Teams are the caller's teams; Caps the spend caps that apply to it
	// (its own, its teams'), with the period's spend and reset.
	Teams []string        `json:"teams,omitempty"`
	Caps  []ovm.CapStatus `json:"caps"`
}

// KeyCreate calls POST /v1/keys; the answer holds the secret, once.
func (c *Client) KeyCreate(ctx context.Context, req *KeyRequest) (*Key, error) {
	var out Key
	return &out, c.do(ctx, http.MethodPost, "/v1/keys", req, &out)
}

// KeyList calls GET /v1/keys.
func (c *Client) KeyList(ctx context.Context, q url.Values) (*Page[Key], error) {
	var out Page[Key]
	return &out, c.do(ctx, http.MethodGet, "/v1/keys"+query(q), nil, &out)
}

// KeyRevoke calls DELETE /v1/keys/{id}.
func (c *Client) KeyRevoke(ctx context.Context, id string) (*Key, error) {
	var out Key
	return &out, c.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil, &out)
}

// Me calls GET /v1/me.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var out Me
	return &out, c.do(ctx, http.MethodGet, "/v1/me", nil, &out)
}
