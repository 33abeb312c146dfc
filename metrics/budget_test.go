package metrics_test

import (
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
)

// Budget acts count by action and template; the frozen and near gauges
// of a pool fall back to 0 when a round finds none.
func TestBudgetActsAndFrozenLeasesAreCounted(t *testing.T) {
	w := newWorld(t)
	w.met.BudgetAct(ovm.BudgetFreeze, "sandbox")
	w.met.BudgetAct(ovm.BudgetFreeze, "sandbox")
	w.met.Budgets(map[string]int{"default": 2}, map[string]int{"default": 3})
	body := w.scrape()
	for _, want := range []string{`ovm_budget_actions_total{action="freeze",template="sandbox"} 2`,
		`ovm_leases_frozen{pool="default"} 2`, `ovm_budget_near_leases{pool="default"} 3`} {
		if !strings.Contains(body, want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	w.met.Budgets(map[string]int{}, map[string]int{})
	if body = w.scrape(); !strings.Contains(body, `ovm_leases_frozen{pool="default"} 0`) || !strings.Contains(body, `ovm_budget_near_leases{pool="default"} 0`) {
		t.Error("a pool with no frozen lease any more still reports some")
	}
}
