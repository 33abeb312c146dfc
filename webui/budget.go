package webui

import (
	"fmt"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// budgetBar draws a lease's budget: the spend so far and the projection
// as bars along the limit, each threshold marked where it falls. It is SVG
// with attributes only (the console's CSP allows no inline style).
type budgetBar struct {
	W, H                float64
	LimitUSD            float64
	SpendUSD, Projected float64
	SpendW, ProjectedW  float64
	LimitX              float64
	Marks               []budgetMark
	Summary             string
	OverLimit           bool
}

// budgetMark is a threshold on the bar: where it is, what it does, and
// whether it has acted.
type budgetMark struct {
	X      float64
	At     string
	Action string
	USD    float64
	Acted  bool
}

const budgetBarW, budgetBarH = 600.0, 56.0

// newBudgetBar is the bar of l's budget, nil when l has none. The bar's
// full width is the limit, or the largest of spend and projection when
// either passed it.
func newBudgetBar(l *client.Lease) *budgetBar {
	b := l.Budget
	if b == nil || b.LimitUSD <= 0 {
		return nil
	}
	spend := 0.0
	if l.Spend != nil {
		spend = l.Spend.USD
	}
	scale := max(b.LimitUSD, spend, b.ProjectedUSD)
	x := func(usd float64) float64 { return budgetBarW * usd / scale }
	bar := &budgetBar{W: budgetBarW, H: budgetBarH, LimitUSD: b.LimitUSD, SpendUSD: spend, Projected: b.ProjectedUSD,
		SpendW: x(spend), ProjectedW: x(b.ProjectedUSD), LimitX: x(b.LimitUSD), OverLimit: scale > b.LimitUSD}
	acted := map[string]bool{}
	for _, a := range b.Acted {
		if a.LimitUSD == b.LimitUSD { // a raised limit arms the threshold again
			acted[a.At+" "+a.Action] = true
		}
	}
	for _, t := range b.Thresholds {
		share, err := ovm.ParseShare(t.At)
		if err != nil {
			continue
		}
		usd := share * b.LimitUSD
		bar.Marks = append(bar.Marks, budgetMark{X: x(usd), At: t.At, Action: t.Action, USD: usd, Acted: acted[t.At+" "+t.Action]})
	}
	bar.Summary = fmt.Sprintf("%.2f USD spent and %.2f USD projected of a limit of %.2f USD", spend, b.ProjectedUSD, b.LimitUSD)
	return bar
}
