package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/ovmdev/ovm"
)

// Pool is the JSON of a pool's policy and live status.
type Pool struct {
	Name           string         `json:"name"`
	Provider       string         `json:"provider"`
	Stock          Stock          `json:"stock"`
	Lease          LeaseLimits    `json:"lease"`
	Retire         Retire         `json:"retire"`
	Counts         map[string]int `json:"counts"`
	Ready          int            `json:"ready"`
	InFlight       int            `json:"in_flight"`
	Live           int            `json:"live"`
	CloseQuota     *Quota         `json:"close_quota,omitempty"`
	HeldBack       string         `json:"held_back,omitempty"`
	NextCreationAt *time.Time     `json:"next_creation_at,omitempty"`
	// The fields below are shown to admin keys only: they name accounts,
	// e-mails, errors and phone numbers. A user key sees counts and policy.
	Waiting []Account `json:"waiting,omitempty"`
	// Drift lists differences between AWS and the store (last check at
	// DriftCheckedAt); RecentCloses the close ledger's window.
	Drift          []Drift     `json:"drift,omitempty"`
	DriftCheckedAt *time.Time  `json:"drift_checked_at,omitempty"`
	RecentCloses   []CloseInfo `json:"recent_closes,omitempty"`
	// Channels is the provider's report on its outside channels (signup:
	// captcha solver statistics, phone number health).
	Channels map[string]any `json:"channels,omitempty"`
}

// Drift is one difference between AWS and the store.
type Drift struct {
	AWSAccountID string    `json:"aws_account_id,omitempty"`
	AccountID    string    `json:"ovm_account_id,omitempty"`
	Problem      string    `json:"problem"`
	Since        time.Time `json:"since"`
}

// CloseInfo is one entry of the close ledger.
type CloseInfo struct {
	AccountID    string    `json:"account_id"`
	OVMAccountID string    `json:"ovm_account_id,omitempty"`
	Pool         string    `json:"pool,omitempty"`
	At           time.Time `json:"at"`
}

// Stock is a pool's stock policy.
type Stock struct {
	// Target is the target now: the configured one, or the estimate of a
	// target that follows demand (Auto set, TargetWhy says how).
	Target      int        `json:"target"`
	TargetWhy   string     `json:"target_why,omitempty"`
	Auto        *AutoStock `json:"auto,omitempty"`
	Ceiling     int        `json:"ceiling"`
	MaxInFlight int        `json:"max_in_flight"`
	MinSpacing  string     `json:"min_spacing"`
}

// AutoStock is the bounds of a target that follows demand.
type AutoStock struct {
	Min      int     `json:"min"`
	Max      int     `json:"max"`
	HitRatio float64 `json:"hit_ratio"`
}

// LeaseLimits is a pool's lease policy.
type LeaseLimits struct {
	DefaultTTL string `json:"default_ttl"`
	MaxTTL     string `json:"max_ttl"`
	MinTTL     string `json:"min_ttl"`
	// MaxPerOwner caps one key's active leases in the pool.
	MaxPerOwner int `json:"max_per_owner"`
}

// Retire is a pool's retire policy.
type Retire struct {
	Mode           ovm.RetireMode `json:"mode"`
	MaxGenerations int            `json:"max_generations,omitempty"`
}

// Quota is a close quota.
type Quota struct {
	Limit      int        `json:"limit"`
	Used       int        `json:"used"`
	Left       int        `json:"left"`
	Window     string     `json:"window"`
	NextFreeAt *time.Time `json:"next_free_at,omitempty"`
}

// History is the answer of GET /v1/pools/{name}/history: the pool's last
// day, one point per interval, oldest first.
type History struct {
	Pool     string         `json:"pool"`
	Interval Duration       `json:"interval"`
	Points   []HistoryPoint `json:"points"`
}

// HistoryPoint is one interval: the sampled ready stock and target (absent
// where OVM recorded no sample) and the vends asked for.
type HistoryPoint struct {
	At     time.Time `json:"at"`
	Ready  *int      `json:"ready,omitempty"`
	Target *int      `json:"target,omitempty"`
	Vends  int       `json:"vends"`
}

// Demand is the answer of GET /v1/pools/{name}/demand (admin): where the
// pool's demand came from since since, the stock target's input. Misses
// are vends the stock refused; counted_misses those the demand model
// counts (an owner's misses weigh like one waiting owner).
type Demand struct {
	Pool          string        `json:"pool"`
	Since         time.Time     `json:"since"`
	LeadTime      Duration      `json:"lead_time"`
	Leases        int           `json:"leases"`
	Misses        int           `json:"misses"`
	CountedMisses int           `json:"counted_misses"`
	Owners        []OwnerDemand `json:"owners"`
}

// OwnerDemand is one owner's part of a pool's demand.
type OwnerDemand struct {
	Owner         string `json:"owner"`
	Leases        int    `json:"leases"`
	Misses        int    `json:"misses"`
	CountedMisses int    `json:"counted_misses"`
}

// PoolList calls GET /v1/pools.
func (c *Client) PoolList(ctx context.Context) (*Page[Pool], error) {
	var out Page[Pool]
	return &out, c.do(ctx, http.MethodGet, "/v1/pools", nil, &out)
}

// PoolGet calls GET /v1/pools/{name}.
func (c *Client) PoolGet(ctx context.Context, name string) (*Pool, error) {
	var out Pool
	return &out, c.do(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(name), nil, &out)
}

// PoolHistory calls GET /v1/pools/{name}/history.
func (c *Client) PoolHistory(ctx context.Context, name string) (*History, error) {
	var out History
	return &out, c.do(ctx, http.MethodGet, "/v1/pools/"+url.PathEscape(name)+"/history", nil, &out)
}
