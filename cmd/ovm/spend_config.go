package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/provider"
	"github.com/ovmdev/ovm/provider/sim"
	"github.com/ovmdev/ovm/spend/cloudtrail"
	"github.com/ovmdev/ovm/spend/costexplorer"
	"github.com/ovmdev/ovm/spend/prices"
	"github.com/ovmdev/ovm/spend/sqsqueue"
)

// pricesPath is the price table's update file.
func (c *Config) pricesPath() string {
	if c.Spend.PricesFile != "" {
		return c.Spend.PricesFile
	}
	return filepath.Join(c.DataDir, "prices.json")
}

// spendPricer is a pool configuration whose simulated accounts spend.
type spendPricer interface{ SpendPerHour() float64 }

// spendConfig is the engine's spend configuration: the simulated AWS's
// feed for sim pools that spend, the SQS queue of CloudTrail events, and
// Cost Explorer, priced from the shipped table and its update.
func spendConfig(ctx context.Context, cfg *Config, env provider.Env, clock ovm.Clock) (engine.SpendConfig, error) {
	ec := engine.SpendConfig{Interval: cfg.Spend.Interval, SweepInterval: cfg.Spend.SweepInterval, ReconcileInterval: cfg.Spend.ReconcileInterval}
	tab, err := prices.Load(cfg.pricesPath())
	if err != nil {
		return ec, fmt.Errorf("spend.prices_file: %w", err)
	}
	own := cfg.Spend.OwnRoles
	if len(own) == 0 {
		for _, pc := range cfg.Pools {
			if g, ok := pc.Kind.(provider.Guarded); ok {
				own = append(own, g.GuardrailRole())
			}
		}
	}
	var feed *sim.SpendFeed
	for _, pc := range cfg.Pools {
		sp, ok := pc.Kind.(spendPricer)
		if !ok || sp.SpendPerHour() <= 0 {
			continue
		}
		if feed == nil {
			feed = &sim.SpendFeed{Clock: clock}
		}
		feed.Spend(pc.Name, sp.SpendPerHour())
		tab.Merge([]prices.Entry{{Type: "ec2.instance", Size: sim.SimInstanceType(pc.Name), Region: "*", USD: sp.SpendPerHour(),
			Unit: prices.UnitHour, Source: "sim.spend_per_hour of pool " + pc.Name, Date: "simulated"}})
	}
	parser := &cloudtrail.Parser{Prices: tab, OwnRoles: own}
	ec.Price = tab.HourlyUSD
	if feed != nil {
		ec.Sources = append(ec.Sources, &cloudtrail.Source{Queue: feed, Parser: parser})
	}
	if cfg.Spend.QueueURL != "" || cfg.Spend.CostExplorer {
		awsCfg, err := env.AWS(ctx)
		if err != nil {
			return ec, fmt.Errorf("spend: %w", err)
		}
		if cfg.Spend.QueueURL != "" {
			ec.Sources = append(ec.Sources, &cloudtrail.Source{Queue: sqsqueue.New(sqs.NewFromConfig(awsCfg), cfg.Spend.QueueURL), Parser: parser})
		}
		if cfg.Spend.CostExplorer {
			ec.Reporter = costexplorer.New(awsCfg)
		}
	}
	return ec, nil
}
