package main

import (
	"fmt"
	"time"

	"github.com/ovmdev/ovm"
)

// BudgetConfig is a template's (or a pool's) budget: block
// (docs/budgets.md).
type BudgetConfig struct {
	LimitUSD float64 `yaml:"limit_usd"`
	// Project is how far ahead the spend is projected at its burn rate
	// (0: act on spend so far).
	Project    time.Duration     `yaml:"project"`
	Thresholds []ThresholdConfig `yaml:"thresholds"`
	Freeze     struct {
		// Stop: a freeze also stops what keeps billing where it can.
		Stop bool `yaml:"stop"`
	} `yaml:"freeze"`
	// LesseeMayLower lets a lessee ask for a lower limit at the vend.
	LesseeMayLower bool `yaml:"lessee_may_lower"`
}

// ThresholdConfig is one threshold: at is a share of the limit ("90%").
type ThresholdConfig struct {
	At     string `yaml:"at"`
	Action string `yaml:"action"`
}

// budget is bc as the domain's budget (nil for none), or a *FieldError
// naming the wrong key relative to the budget's owner (budget.thresholds[0].at).
func (bc *BudgetConfig) budget() (*ovm.Budget, error) {
	if bc == nil {
		return nil, nil
	}
	b := &ovm.Budget{LimitUSD: bc.LimitUSD, Project: bc.Project, FreezeStop: bc.Freeze.Stop, LesseeMayLower: bc.LesseeMayLower}
	for i, t := range bc.Thresholds {
		at, err := ovm.ParseShare(t.At)
		if err != nil {
			return nil, &ovm.FieldError{Field: fmt.Sprintf("budget.thresholds[%d].at", i), Message: err.Error()}
		}
		b.Thresholds = append(b.Thresholds, ovm.Threshold{At: at, Action: ovm.BudgetAction(t.Action)})
	}
	if err := b.Validate(); err != nil {
		fe := err.(*ovm.FieldError)
		return nil, &ovm.FieldError{Field: "budget." + fe.Field, Message: fe.Message}
	}
	return b, nil
}

// SpendCapConfig is one entry of spend_caps: (docs/budgets.md): of each
// owner (owner: "*"), one owner, each team (team: "*") or one team, per
// day, week or month (UTC).
type SpendCapConfig struct {
	Owner string  `yaml:"owner"`
	Team  string  `yaml:"team"`
	Per   string  `yaml:"per"`
	USD   float64 `yaml:"usd"`
}

// spendCaps are the configured caps, checked: an error names the key
// (spend_caps[1].per). A cap counts ended leases, whose ledgers are
// pruned with them: retention.leases must keep them a whole period.
func (c *Config) spendCaps() ([]ovm.SpendCap, error) {
	var out []ovm.SpendCap
	period := map[ovm.CapPeriod]time.Duration{ovm.CapDay: 24 * time.Hour, ovm.CapWeek: 7 * 24 * time.Hour, ovm.CapMonth: 31 * 24 * time.Hour}
	for i, sc := range c.SpendCaps {
		cp := ovm.SpendCap{Owner: sc.Owner, Team: sc.Team, Per: ovm.CapPeriod(sc.Per), USD: sc.USD}
		if err := cp.Validate(); err != nil {
			return nil, fmt.Errorf("spend_caps[%d].%v", i, err)
		}
		if r := c.Retention.Leases; r != 0 && r < period[cp.Per] {
			return nil, fmt.Errorf("spend_caps[%d].per: a %s cap counts ended leases, but retention.leases (%s) prunes them (and their spend) sooner: keep them at least %s",
				i, cp.Per, r, period[cp.Per])
		}
		out = append(out, cp)
	}
	return out, nil
}
