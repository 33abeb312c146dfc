package webui

import (
	"testing"

	"github.com/ovmdev/ovm/client"
)

// A threshold is shown done only for an act at the lease's limit: a
// raised limit arms it again.
func TestAThresholdIsDoneOnlyAtTheLimitItActedAt(t *testing.T) {
	l := &client.Lease{Budget: &client.LeaseBudget{LimitUSD: 5, Thresholds: []client.BudgetThreshold{{At: "50%", Action: "freeze"}, {At: "100%", Action: "end"}},
		Acted: []client.BudgetAct{{At: "50%", Action: "freeze", LimitUSD: 1}}}}
	for _, m := range newBudgetBar(l).Marks {
		if m.Acted {
			t.Fatalf("%s %s shown done: it acted at 1 USD, the limit is 5", m.At, m.Action)
		}
	}
	l.Budget.Acted = append(l.Budget.Acted, client.BudgetAct{At: "50%", Action: "freeze", LimitUSD: 5})
	if m := newBudgetBar(l).Marks; !m[0].Acted || m[1].Acted {
		t.Fatalf("marks %+v: want 50%% done at 5 USD, 100%% not", m)
	}
}
