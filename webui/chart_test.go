package webui

import (
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm/client"
)

func TestTheChartBreaksTheLineWhereNoSampleWasRecorded(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	n := func(v int) *int { return &v }
	h := &client.History{Points: []client.HistoryPoint{
		{At: t0, Ready: n(2), Target: n(3)}, {At: t0.Add(10 * time.Minute), Ready: n(1), Target: n(3), Vends: 4},
		{At: t0.Add(20 * time.Minute)},
		{At: t0.Add(30 * time.Minute), Ready: n(3), Target: n(3), Vends: 1},
	}}
	c := newChart(h)
	if len(c.Ready) != 2 || len(c.Target) != 2 || strings.Count(c.Ready[0], ",") != 2 || strings.Count(c.Ready[1], ",") != 1 {
		t.Fatalf("ready runs %q", c.Ready)
	}
	if len(c.Bars) != 2 || c.MaxVen != 4 || c.MaxStock != 3 {
		t.Fatalf("bars %v, max vends %d, max stock %d", c.Bars, c.MaxVen, c.MaxStock)
	}
	if c.Bars[0].H <= c.Bars[1].H || c.Bars[0].H > float64(c.Plot.H) {
		t.Fatalf("4 vends drawn %v tall, 1 vend %v, in a plot %d tall", c.Bars[0].H, c.Bars[1].H, c.Plot.H)
	}
	if !strings.Contains(c.Summary, "between 1 and 3") || !strings.Contains(c.Summary, "5 vends") || !strings.Contains(c.Summary, "3 of 4 intervals") {
		t.Fatalf("summary %q", c.Summary)
	}
	if e := newChart(&client.History{}); e.Summary != "No history yet." || len(e.Ready) != 0 {
		t.Fatalf("empty history: %+v", e)
	}
}
