package client

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
)

// VendResponse is the answer of GET /vend.
type VendResponse struct {
	AccountID        string `json:"account_id"`
	CrossAccountRole string `json:"cross_account_role"`
	// LeaseID is the lease the vend made, from the answer's Location
	// (/v1/leases/{id}); the body stays the seed's, so it is not in it.
	LeaseID string `json:"-"`
}

// readHeader takes the lease id from Location.
func (v *VendResponse) readHeader(h http.Header) {
	v.LeaseID = strings.TrimPrefix(h.Get("Location"), "/v1/leases/")
}

// IdempotencyKeyHeader makes a vend once per key (POST /v1/leases, /vend):
// a retry with the same key within ovm.IdempotencyWindow gets the first
// vend's lease, marked by ReplayedHeader: true.
const (
	IdempotencyKeyHeader = "Idempotency-Key"
	ReplayedHeader       = "Idempotent-Replayed"
)

// LeaseRequest is the body of POST /v1/leases.
type LeaseRequest struct {
	// Template names the lease's terms (GET /v1/templates); Pool alone
	// takes the pool's own template; neither, api.default_template.
	Template string `json:"template,omitempty"`
	Pool     string `json:"pool"`
	// TTL is the lease's duration (nil: the pool's default; it must be
	// positive when given).
	TTL    *Duration         `json:"ttl,omitempty"`
	Labels map[string]string `json:"labels"`
	// Wait long-polls up to this long for an account when the stock is empty.
	Wait Duration `json:"wait"`
	// Principal, an IAM role or user ARN, is trusted by the account's
	// vended role for the lease's life only.
	Principal string `json:"principal,omitempty"`
	// BudgetUSD asks for a lower budget limit than the template's (when
	// its budget lets lessees lower it); 0: the template's.
	BudgetUSD float64 `json:"budget_usd,omitempty"`
}

// ExtendRequest is the body of PATCH /v1/leases/{id}: exactly one of
// expires_at, extend_by (the lease's owner or an admin) and budget_usd
// (an admin: the lease's budget limit, in USD).
type ExtendRequest struct {
	ExpiresAt *time.Time `json:"expires_at"`
	ExtendBy  *Duration  `json:"extend_by"`
	BudgetUSD *float64   `json:"budget_usd,omitempty"`
}

// FreezeRequest is the body of POST /v1/leases/{id}/freeze (optional).
type FreezeRequest struct {
	// Reason says why (the lease's events keep it).
	Reason string `json:"reason,omitempty"`
	// Stop also stops what keeps billing where OVM can (docs/budgets.md).
	Stop bool `json:"stop,omitempty"`
}

// LeaseBudget is a lease's budget: its limit, thresholds, what they did,
// and the spend projected as the budget projects it.
type LeaseBudget struct {
	LimitUSD       float64           `json:"limit_usd"`
	Project        Duration          `json:"project"`
	Thresholds     []BudgetThreshold `json:"thresholds"`
	FreezeStop     bool              `json:"freeze_stop,omitempty"`
	LesseeMayLower bool              `json:"lessee_may_lower,omitempty"`
	// ProjectedUSD is the spend Project ahead at the burn rate (never past
	// the lease's expiry): what the thresholds are compared with.
	ProjectedUSD float64     `json:"projected_usd"`
	Acted        []BudgetAct `json:"acted"`
}

// BudgetThreshold is a share of the limit ("90%") and its action (notify,
// freeze, end).
type BudgetThreshold struct {
	At     string `json:"at"`
	Action string `json:"action"`
}

// BudgetAct is a threshold's act on the lease.
type BudgetAct struct {
	At           string    `json:"at"`
	Action       string    `json:"action"`
	LimitUSD     float64   `json:"limit_usd"`
	Time         time.Time `json:"time"`
	SpendUSD     float64   `json:"spend_usd"`
	ProjectedUSD float64   `json:"projected_usd"`
}

// Freeze says since when, by whom and why a lease is frozen.
type Freeze struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	Stop   bool      `json:"stop,omitempty"`
}

// Lease is the JSON of a lease. AccountID is the 12-digit AWS account id,
// as in the seed's /vend answer; OVMAccountID is OVM's own id.
type Lease struct {
	ID               string            `json:"id"`
	AccountID        string            `json:"account_id"`
	CrossAccountRole string            `json:"cross_account_role"`
	OVMAccountID     string            `json:"ovm_account_id"`
	Pool             string            `json:"pool"`
	Owner            string            `json:"owner"`
	State            ovm.LeaseState    `json:"state"`
	EndReason        string            `json:"end_reason,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Principal        string            `json:"principal,omitempty"`
	Template         string            `json:"template,omitempty"`
	Team             string            `json:"team,omitempty"`
	Terms            *Terms            `json:"terms,omitempty"`
	CreatedAt        time.Time         `json:"created_at"`
	ExpiresAt        time.Time         `json:"expires_at"`
	EndedAt          *time.Time        `json:"ended_at,omitempty"`
	// Spend is what the lease has cost so far (docs/spend.md); all zero
	// while nothing was measured.
	Spend *ovm.LeaseSpend `json:"spend,omitempty"`
	// Budget is the lease's budget (absent: none); Frozen is set while
	// the lease is frozen (state frozen).
	Budget *LeaseBudget `json:"budget,omitempty"`
	Frozen *Freeze      `json:"frozen,omitempty"`
}

// Vend calls GET /vend with an Idempotency-Key, and again with the same key
// when the answer is lost.
func (c *Client) Vend(ctx context.Context) (*VendResponse, error) {
	var out VendResponse
	return &out, c.doIdempotent(ctx, http.MethodGet, "/vend", nil, &out)
}

// LeaseCreate calls POST /v1/leases with an Idempotency-Key, and again with
// the same key when the answer is lost: one lease, however often it is sent.
func (c *Client) LeaseCreate(ctx context.Context, req *LeaseRequest) (*Lease, error) {
	var out Lease
	return &out, c.doIdempotent(ctx, http.MethodPost, "/v1/leases", req, &out)
}

// LeaseSetBudget calls PATCH /v1/leases/{id} with budget_usd (an admin).
func (c *Client) LeaseSetBudget(ctx context.Context, id string, usd float64) (*Lease, error) {
	var out Lease
	return &out, c.do(ctx, http.MethodPatch, "/v1/leases/"+url.PathEscape(id), &ExtendRequest{BudgetUSD: &usd}, &out)
}

// LeaseFreeze calls POST /v1/leases/{id}/freeze (an admin).
func (c *Client) LeaseFreeze(ctx context.Context, id string, req *FreezeRequest) (*Lease, error) {
	var out Lease
	return &out, c.do(ctx, http.MethodPost, "/v1/leases/"+url.PathEscape(id)+"/freeze", req, &out)
}

// LeaseUnfreeze calls POST /v1/leases/{id}/unfreeze (an admin).
func (c *Client) LeaseUnfreeze(ctx context.Context, id string) (*Lease, error) {
	var out Lease
	return &out, c.do(ctx, http.MethodPost, "/v1/leases/"+url.PathEscape(id)+"/unfreeze", struct{}{}, &out)
}

// LeaseGet calls GET /v1/leases/{id}.
func (c *Client) LeaseGet(ctx context.Context, id string) (*Lease, error) {
	var out Lease
	return &out, c.do(ctx, http.MethodGet, "/v1/leases/"+url.PathEscape(id), nil, &out)
}

// LeaseList calls GET /v1/leases with query parameters q.
func (c *Client) LeaseList(ctx context.Context, q url.Values) (*Page[Lease], error) {
	var out Page[Lease]
	return &out, c.do(ctx, http.MethodGet, "/v1/leases"+query(q), nil, &out)
}

// LeaseExtend calls PATCH /v1/leases/{id}.
func (c *Client) LeaseExtend(ctx context.Context, id string, req *ExtendRequest) (*Lease, error) {
	var out Lease
	return &out, c.do(ctx, http.MethodPatch, "/v1/leases/"+url.PathEscape(id), req, &out)
}

// LeaseRelease calls DELETE /v1/leases/{id}.
func (c *Client) LeaseRelease(ctx context.Context, id string) (*Lease, error) {
	var out Lease
	return &out, c.do(ctx, http.MethodDelete, "/v1/leases/"+url.PathEscape(id), nil, &out)
}

// LeaseEvents calls GET /v1/leases/{id}/events with query parameters q
// (cursor, limit, order).
func (c *Client) LeaseEvents(ctx context.Context, id string, q url.Values) (*Page[Event], error) {
	var out Page[Event]
	return &out, c.do(ctx, http.MethodGet, "/v1/leases/"+url.PathEscape(id)+"/events"+query(q), nil, &out)
}

// Terms are a lease's terms as kept from its vend: the template's lease
// bounds and guardrails then.
type Terms struct {
	Template         string         `json:"template"`
	DefaultTTL       Duration       `json:"default_ttl"`
	MaxTTL           Duration       `json:"max_ttl"`
	MinTTL           Duration       `json:"min_ttl"`
	MaxPerOwner      int            `json:"max_per_owner"`
	MaxPerTeam       int            `json:"max_per_team,omitempty"`
	Guardrails       ovm.Guardrails `json:"guardrails"`
	GuardrailVersion string         `json:"guardrail_version,omitempty"`
}
