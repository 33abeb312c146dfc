// Package costexplorer reads what AWS bills each leased account from Cost
// Explorer (GetCostAndUsage: DAILY, UnblendedCost, grouped by linked
// account, credits and refunds excluded), for the spend worker's
// reconciliation. Each paginated request costs USD 0.01 (docs/spend.md).
package costexplorer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/costexplorer"
	"github.com/aws/aws-sdk-go-v2/service/costexplorer/types"
	"github.com/ovmdev/ovm"
)

// API is the part of Cost Explorer the reporter uses.
type API interface {
	GetCostAndUsage(context.Context, *costexplorer.GetCostAndUsageInput, ...func(*costexplorer.Options)) (*costexplorer.GetCostAndUsageOutput, error)
}

// Reporter implements ovm.CostReporter.
type Reporter struct{ api API }

var _ ovm.CostReporter = (*Reporter)(nil)

// New returns a reporter on awsCfg (Cost Explorer's endpoint is in
// us-east-1).
func New(awsCfg aws.Config) *Reporter {
	return &Reporter{api: costexplorer.NewFromConfig(awsCfg, func(o *costexplorer.Options) { o.Region = "us-east-1" })}
}

// NewWith returns a reporter on api.
func NewWith(api API) *Reporter { return &Reporter{api: api} }

// DailyCost implements ovm.CostReporter: one query (and its pages) for
// every account at once.
func (r *Reporter) DailyCost(ctx context.Context, ids []string, from, to time.Time) (map[string]map[string]float64, error) {
	out := map[string]map[string]float64{}
	if len(ids) == 0 {
		return out, nil
	}
	in := &costexplorer.GetCostAndUsageInput{
		TimePeriod:  &types.DateInterval{Start: aws.String(from.UTC().Format(time.DateOnly)), End: aws.String(to.UTC().Format(time.DateOnly))},
		Granularity: types.GranularityDaily,
		Metrics:     []string{"UnblendedCost"},
		GroupBy:     []types.GroupDefinition{{Type: types.GroupDefinitionTypeDimension, Key: aws.String("LINKED_ACCOUNT")}},
		Filter: &types.Expression{And: []types.Expression{
			{Dimensions: &types.DimensionValues{Key: types.DimensionLinkedAccount, Values: ids}},
			{Not: &types.Expression{Dimensions: &types.DimensionValues{Key: types.DimensionRecordType, Values: []string{"Credit", "Refund"}}}},
		}},
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for {
		res, err := r.api.GetCostAndUsage(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("cost explorer: %w", err)
		}
		for _, day := range res.ResultsByTime {
			if day.TimePeriod == nil {
				continue
			}
			d := aws.ToString(day.TimePeriod.Start)
			for _, g := range day.Groups {
				if len(g.Keys) == 0 || !want[g.Keys[0]] {
					continue
				}
				m, ok := g.Metrics["UnblendedCost"]
				if !ok {
					continue
				}
				usd, err := strconv.ParseFloat(aws.ToString(m.Amount), 64)
				if err != nil {
					return nil, fmt.Errorf("cost explorer: amount %q: %w", aws.ToString(m.Amount), err)
				}
				if out[g.Keys[0]] == nil {
					out[g.Keys[0]] = map[string]float64{}
				}
				out[g.Keys[0]][d] += usd
			}
		}
		if res.NextPageToken == nil {
			return out, nil
		}
		in.NextPageToken = res.NextPageToken
	}
}
