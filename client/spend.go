package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/ovmdev/ovm"
)

// SpendReport is the answer of GET /v1/spend.
type SpendReport struct {
	GroupBy ovm.SpendGroupBy `json:"group_by"`
	From    time.Time        `json:"from"`
	To      time.Time        `json:"to"`
	AsOf    time.Time        `json:"as_of"`
	Groups  []ovm.SpendGroup `json:"groups"`
}

// SpendReport calls GET /v1/spend (from and to: zero for the defaults).
func (c *Client) SpendReport(ctx context.Context, groupBy string, from, to time.Time) (*SpendReport, error) {
	q := url.Values{}
	if groupBy != "" {
		q.Set("group_by", groupBy)
	}
	if !from.IsZero() {
		q.Set("from", from.UTC().Format(time.RFC3339))
	}
	if !to.IsZero() {
		q.Set("to", to.UTC().Format(time.RFC3339))
	}
	var out SpendReport
	return &out, c.do(ctx, http.MethodGet, "/v1/spend?"+q.Encode(), nil, &out)
}
