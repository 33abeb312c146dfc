package costexplorer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	ce "github.com/aws/aws-sdk-go-v2/service/costexplorer"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/spend/costexplorer"
)

// queue queues a Cost Explorer answer in moto (its documented
// /moto-api/static/ce/cost-and-usage-results).
func queue(t *testing.T, srv *mototest.Server, results ...any) {
	b, _ := json.Marshal(map[string]any{"results": results})
	res, err := http.Post(srv.URL+"/moto-api/static/ce/cost-and-usage-results", "application/json", bytes.NewReader(b))
	if err != nil || res.StatusCode/100 != 2 {
		t.Fatalf("queue a result: %v %v", err, res)
	}
	res.Body.Close()
}

func day(date string, groups ...any) map[string]any {
	end, _ := time.Parse(time.DateOnly, date)
	return map[string]any{"TimePeriod": map[string]string{"Start": date, "End": end.Add(24 * time.Hour).Format(time.DateOnly)},
		"Groups": groups, "Estimated": false}
}

func group(account, usd string) map[string]any {
	return map[string]any{"Keys": []string{account}, "Metrics": map[string]any{"UnblendedCost": map[string]string{"Amount": usd, "Unit": "USD"}}}
}

func TestDailyCostReadsEachLinkedAccountsDays(t *testing.T) {
	srv := mototest.Require(t)
	srv.Reset()
	queue(t, srv, map[string]any{"ResultsByTime": []any{
		day("2026-12-01", group("111122223333", "4.25"), group("999988887777", "100")),
		day("2026-12-02", group("111122223333", "1.5")),
	}, "DimensionValueAttributes": []any{}})
	// moto ignores filters: what is asked is read on the way (a recorder in
	// front of the real client), what is answered comes from moto.
	rec := &recorder{api: ce.NewFromConfig(srv.Config())}
	r := costexplorer.NewWith(rec)
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	got, err := r.DailyCost(context.Background(), []string{"111122223333"}, from, from.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["111122223333"]["2026-12-01"] != 4.25 || got["111122223333"]["2026-12-02"] != 1.5 {
		t.Fatalf("daily cost %v: want only the asked account's two days", got)
	}
	f := rec.in.Filter
	if rec.in.Granularity != "DAILY" || len(f.And) != 2 || f.And[1].Not == nil || f.And[1].Not.Dimensions.Key != "RECORD_TYPE" ||
		fmt.Sprint(f.And[1].Not.Dimensions.Values) != "[Credit Refund]" {
		t.Fatalf("asked %+v: credits and refunds are not excluded", rec.in)
	}
}

type recorder struct {
	api costexplorer.API
	in  *ce.GetCostAndUsageInput
}

func (r *recorder) GetCostAndUsage(ctx context.Context, in *ce.GetCostAndUsageInput, o ...func(*ce.Options)) (*ce.GetCostAndUsageOutput, error) {
	r.in = in
	return r.api.GetCostAndUsage(ctx, in, o...)
}
