package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/ovmdev/ovm"
)

// Delivery is an outbox entry: the notification as it is sent (event) and
// how far its sending got, per subscription.
type Delivery struct {
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	State         string            `json:"state"`
	Event         *ovm.Notification `json:"event"`
	Attempts      int               `json:"attempts"`
	NextAttemptAt *time.Time        `json:"next_attempt_at,omitempty"`
	LastError     string            `json:"last_error,omitempty"`
	Targets       []DeliveryTarget  `json:"targets"`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

// DeliveryTarget is one subscription's share of a delivery.
type DeliveryTarget struct {
	Subscription string     `json:"subscription"`
	State        string     `json:"state"`
	Attempts     int        `json:"attempts"`
	LastError    string     `json:"last_error,omitempty"`
	DeliveredAt  *time.Time `json:"delivered_at,omitempty"`
}

// DeliveryList calls GET /v1/deliveries.
func (c *Client) DeliveryList(ctx context.Context, q url.Values) (*Page[Delivery], error) {
	var out Page[Delivery]
	return &out, c.do(ctx, http.MethodGet, "/v1/deliveries"+query(q), nil, &out)
}

// DeliveryGet calls GET /v1/deliveries/{id}.
func (c *Client) DeliveryGet(ctx context.Context, id string) (*Delivery, error) {
	var out Delivery
	return &out, c.do(ctx, http.MethodGet, "/v1/deliveries/"+url.PathEscape(id), nil, &out)
}

// DeliveryRetry calls POST /v1/deliveries/{id}/retry.
func (c *Client) DeliveryRetry(ctx context.Context, id string) (*Delivery, error) {
	var out Delivery
	return &out, c.do(ctx, http.MethodPost, "/v1/deliveries/"+url.PathEscape(id)+"/retry", nil, &out)
}
