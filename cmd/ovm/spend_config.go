package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

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
	ec := engine.SpendConfig{Interval: cfg.Spend.Interval, SweepInterval: cfg.Spend.SweepInterval, ReconcileInterval: cfg.Spend.ReconcileInterval,
		LateEvents: cfg.Spend.LateEvents, Settle: cfg.Spend.Settle}
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

var (
	eventBusARN = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._/-]{1,256}$`)
	roleName    = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
)

// validateSpend checks the spend: block, naming the key.
func (c *Config) validateSpend() error {
	sp := c.Spend
	if u := sp.QueueURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || strings.Trim(p.Path, "/") == "" {
			return fmt.Errorf("spend.queue_url: %q is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", u)
		}
	}
	if b := sp.EventBusARN; b != "" && !eventBusARN.MatchString(b) {
		return fmt.Errorf("spend.event_bus_arn: %q is not an event bus ARN (arn:aws:events:REGION:ACCOUNT:event-bus/NAME)", b)
	}
	if sp.EventBusARN != "" && sp.QueueURL == "" {
		return fmt.Errorf("spend.event_bus_arn: the accounts' events would reach OVM's bus and no queue: set spend.queue_url too")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"spend.interval", sp.Interval}, {"spend.sweep_interval", sp.SweepInterval}, {"spend.reconcile_interval", sp.ReconcileInterval},
		{"spend.late_events", sp.LateEvents}, {"spend.settle", sp.Settle}} {
		if d.v < 0 {
			return fmt.Errorf("%s: must not be negative (0 takes the default)", d.key)
		}
	}
	if sp.Interval != 0 && sp.Interval < 100*time.Millisecond {
		return fmt.Errorf("spend.interval: must be at least 100ms")
	}
	if sp.SweepInterval != 0 && sp.SweepInterval < time.Minute {
		return fmt.Errorf("spend.sweep_interval: must be at least 1m (each sweep lists every Region of every leased account)")
	}
	if sp.ReconcileInterval != 0 && sp.ReconcileInterval < 15*time.Minute {
		return fmt.Errorf("spend.reconcile_interval: must be at least 15m (each read costs USD 0.01; AWS refreshes the bill a few times a day)")
	}
	if sp.LateEvents > 24*time.Hour {
		return fmt.Errorf("spend.late_events: at most 24h (a lease's ledger stays open that long after its end)")
	}
	if sp.Settle != 0 && (sp.Settle < time.Hour || sp.Settle > 14*24*time.Hour) {
		return fmt.Errorf("spend.settle: between 1h and 336h (14 days): how long after a lease's end its bill waits for Cost Explorer")
	}
	if _, err := prices.ReadFile(c.pricesPath()); err != nil {
		return fmt.Errorf("spend.prices_file: %w (fix or remove it; `ovm prices import` writes it)", err)
	}
	for i, r := range sp.OwnRoles {
		if !roleName.MatchString(r) {
			return fmt.Errorf("spend.own_roles[%d]: %q is not an IAM role name", i, r)
		}
	}
	return nil
}
