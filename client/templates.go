package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/ovmdev/ovm"
)

// Template is the JSON of a lease template: its terms and a plain-language
// summary of its guardrails.
type Template struct {
	Name             string         `json:"name"`
	Description      string         `json:"description,omitempty"`
	Pool             string         `json:"pool"`
	DefaultTTL       Duration       `json:"default_ttl"`
	MaxTTL           Duration       `json:"max_ttl"`
	MinTTL           Duration       `json:"min_ttl"`
	MaxPerOwner      int            `json:"max_per_owner"`
	MaxPerTeam       int            `json:"max_per_team,omitempty"`
	Allowed          []string       `json:"allowed,omitempty"`
	Guardrails       ovm.Guardrails `json:"guardrails"`
	GuardrailSummary []string       `json:"guardrail_summary"`
	GuardrailVersion string         `json:"guardrail_version,omitempty"`
	Implicit         bool           `json:"implicit"`
}

// TemplateList calls GET /v1/templates: the templates the caller may use.
func (c *Client) TemplateList(ctx context.Context) (*Page[Template], error) {
	var out Page[Template]
	return &out, c.do(ctx, http.MethodGet, "/v1/templates", nil, &out)
}

// TemplateGet calls GET /v1/templates/{name}.
func (c *Client) TemplateGet(ctx context.Context, name string) (*Template, error) {
	var out Template
	return &out, c.do(ctx, http.MethodGet, "/v1/templates/"+url.PathEscape(name), nil, &out)
}
