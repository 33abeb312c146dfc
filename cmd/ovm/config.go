package main

import (
	"fmt"
	"time"

	"github.com/ovmdev/ovm/federation"
	"gopkg.in/yaml.v3"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/identity"
	"github.com/ovmdev/ovm/provider"
	"github.com/ovmdev/ovm/provider/sim"
)

// Config is the YAML configuration file. Every key is documented in
// docs/config.md; unknown keys are an error. A file is laid over the
// embedded default: what it does not set keeps its default, and a file
// without pools runs the default pool.
type Config struct {
	Listen          string          `yaml:"listen"`           // default 127.0.0.1:8080
	DataDir         string          `yaml:"data_dir"`         // default ./ovm-data
	Store           string          `yaml:"store"`            // sqlite
	LogLevel        string          `yaml:"log_level"`        // debug | info | warn | error (default info)
	LogFormat       string          `yaml:"log_format"`       // text | json (default text)
	ShutdownTimeout time.Duration   `yaml:"shutdown_timeout"` // default 30s
	AWS             AWSConfig       `yaml:"aws"`
	DynamoDB        DynamoConfig    `yaml:"dynamodb"`
	Secrets         SecretsConfig   `yaml:"secrets"`
	API             APIConfig       `yaml:"api"`
	Engine          EngineConfig    `yaml:"engine"`
	Metrics         MetricsConfig   `yaml:"metrics"`
	UI              UIConfig        `yaml:"ui"`
	Retention       RetentionConfig `yaml:"retention"`
	Spend           SpendConfig     `yaml:"spend"`
	Pools           []PoolConfig    `yaml:"pools"`
	// Templates are the lease templates besides each pool's own
	// (docs/templates.md).
	Templates []TemplateConfig `yaml:"templates"`
	// SpendCaps bound what an owner or a team spends per period
	// (docs/budgets.md); none by default.
	SpendCaps []SpendCapConfig `yaml:"spend_caps"`

	// dir is the configuration file's directory (policy files are read
	// relative to it).
	dir string

	// Notifications are sent to subscribers (docs/notifications.md).
	Notifications NotificationsConfig `yaml:"notifications"`

	// Auth lists the OIDC issuers whose ID tokens sign in (docs/oidc.md).
	Auth identity.Config `yaml:"auth"`

	// Access is how lessees reach the AWS console (docs/access.md).
	Access federation.Config `yaml:"access"`
}

// AWSConfig is used by the AWS providers and the DynamoDB store.
type AWSConfig struct {
	Region   string `yaml:"region"`   // default us-east-1
	Endpoint string `yaml:"endpoint"` // one endpoint for every service (moto in tests)
}

// DynamoConfig configures store: dynamodb.
type DynamoConfig struct {
	Table       string `yaml:"table"`        // default ovm
	CreateTable bool   `yaml:"create_table"` // create the table on start when missing (default false)
}

// APIConfig tunes the HTTP API.
type APIConfig struct {
	// DefaultPool is the pool of GET /vend (default: the only pool, or
	// "default" when there are several).
	DefaultPool string `yaml:"default_pool"`
	// DefaultTemplate is the template of GET /vend and of a lease naming
	// neither a template nor a pool (default: default_pool's own).
	DefaultTemplate string        `yaml:"default_template"`
	LeasesPerOwner  *int          `yaml:"leases_per_owner"` // active leases per key, all pools (default 100; 0 = no limit)
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`   // default 65536
	MaxWait         time.Duration `yaml:"max_wait"`         // longest long-poll (default 5m)
	// AccessIssues and AccessWindow bound one lease's issues of access
	// (credentials and console sign-ins): at most AccessIssues in any
	// AccessWindow (defaults 10 and 1m).
	AccessIssues int           `yaml:"access_issues"`
	AccessWindow time.Duration `yaml:"access_window"`
}

// EngineConfig tunes the reconciler.
type EngineConfig struct {
	Tick        time.Duration `yaml:"tick"`         // default 1s
	BatchSize   int           `yaml:"batch_size"`   // default 64
	Parallelism int           `yaml:"parallelism"`  // default 8
	ClaimTTL    time.Duration `yaml:"claim_ttl"`    // default 30s; renewed every third of it while a step runs
	StepTimeout time.Duration `yaml:"step_timeout"` // default 1m
	// DriftInterval is how often AWS is compared with the store (default 10m).
	DriftInterval time.Duration `yaml:"drift_interval"`
	// LeaderTTL is how long the planner's leader lease lasts (default 15s).
	LeaderTTL time.Duration `yaml:"leader_ttl"`
	// Instance names this replica in claims and leases (default host-pid).
	Instance string `yaml:"instance"`
}

// RetentionConfig is how long the store keeps records (docs/operations.md).
// Unset keys take the engine's defaults: a year each.
type RetentionConfig struct {
	Events   time.Duration `yaml:"events"`   // every event (default 8760h; at least 24h)
	Leases   time.Duration `yaml:"leases"`   // an ended lease, from its end (default 8760h; at least 24h)
	Accounts time.Duration `yaml:"accounts"` // a closed or abandoned account and its events (default 8760h; at least 2160h)
}

// SpendConfig is how OVM measures what leases cost (docs/spend.md). Zero
// fields take the engine's defaults.
type SpendConfig struct {
	// QueueURL is the SQS queue the lessees' CloudTrail events reach
	// (through EventBridge); empty: no events are read from AWS.
	QueueURL string `yaml:"queue_url"`
	// EventBusARN is the event bus in OVM's account that organizations
	// pools' accounts forward their management events to (the bootstrap
	// sets up the rule; a rule on this bus sends them to QueueURL).
	EventBusARN string `yaml:"event_bus_arn"`
	// Interval is how often events are taken in (default 5s).
	Interval time.Duration `yaml:"interval"`
	// LateEvents is how long after a lease's end its events still count
	// (default 15m: CloudTrail delivers within minutes).
	LateEvents time.Duration `yaml:"late_events"`
	// Settle is how long after a lease's end its bill is settled with the
	// estimate for the days Cost Explorer has not reported (default 48h).
	Settle time.Duration `yaml:"settle"`
	// SweepInterval is how often leased accounts are swept (default 10m).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// CostExplorer reconciles with what AWS bills every ReconcileInterval
	// (default 1h).
	CostExplorer      bool          `yaml:"cost_explorer"`
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// PricesFile is the price table's update, written by `ovm prices
	// import` (default <data_dir>/prices.json).
	PricesFile string `yaml:"prices_file"`
	// OwnRoles are the roles OVM acts through in leased accounts: their
	// calls without a source identity are not the lessee's spend (default
	// the pools' roles for OVM).
	OwnRoles []string `yaml:"own_roles"`
}

// UIConfig is the web console under /ui/ (docs/console.md).
type UIConfig struct {
	// Disabled turns the console off (default false: /ui/ is served).
	Disabled bool `yaml:"disabled"`
	// SessionTTL is how long a console session lasts (default 8h; 5m to
	// 7 days). An OIDC session ends with its ID token if that is sooner.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// PublicURL is where browsers reach OVM (https://ovm.example.com): the
	// OIDC redirect URI is PublicURL/ui/callback, and cookies are Secure
	// when it is https. Required for OIDC sign-in off loopback.
	PublicURL string `yaml:"public_url"`
}

// MetricsConfig serves Prometheus metrics (docs/operations.md).
type MetricsConfig struct {
	// Listen is the host:port of GET /metrics, apart from the API and
	// without a key: bind it to loopback or a private network ("" = off).
	Listen string `yaml:"listen"`
}

// NotificationsConfig is who is told what happens (docs/notifications.md).
type NotificationsConfig struct {
	// ExpiringLead is how long before a lease's expiry lease.expiring is
	// sent (default 1h; 0s: never).
	ExpiringLead *time.Duration `yaml:"expiring_lead"`
	// LowStock is, per pool name, the ready stock below which pool.low is
	// sent (default: half the pool's target, rounded up).
	LowStock map[string]int `yaml:"low_stock"`
	// Retry bounds the sending to one subscription (default 8 attempts,
	// 5s doubling to 10m); then the delivery is kept as failed.
	Retry RetryConfig `yaml:"retry"`
	// Subscriptions are the receivers (none by default).
	Subscriptions []SubscriptionConfig `yaml:"subscriptions"`
}

// SubscriptionConfig is one receiver: a webhook (url), an SNS topic (sns)
// or an EventBridge bus (eventbridge), and the events it wants.
type SubscriptionConfig struct {
	Name   string   `yaml:"name"`   // unique, shown in deliveries and metrics
	Events []string `yaml:"events"` // notification types (default: all)
	// URL is a webhook's address; Secret its HMAC-SHA256 key as
	// secret:NAME (a vault entry, required); SignatureHeader its header
	// (default X-OVM-Signature); Timeout bounds one POST (default 10s).
	URL             string        `yaml:"url"`
	Secret          string        `yaml:"secret"`
	SignatureHeader string        `yaml:"signature_header"`
	Timeout         time.Duration `yaml:"timeout"`
	// SNS publishes to a topic.
	SNS *SNSConfig `yaml:"sns"`
	// EventBridge puts events on a bus.
	EventBridge *EventBridgeConfig `yaml:"eventbridge"`
}

// SNSConfig is an SNS subscription's topic.
type SNSConfig struct {
	TopicARN string `yaml:"topic_arn"` // required
}

// EventBridgeConfig is an EventBridge subscription's bus.
type EventBridgeConfig struct {
	Bus    string `yaml:"bus"`    // name or ARN (default "default")
	Source string `yaml:"source"` // default ovm
}

// SecretsConfig is the vault of card and company data, root passwords and
// browser sessions: a local encrypted file, or AWS Secrets Manager.
type SecretsConfig struct {
	Backend  string `yaml:"backend"`    // file | secretsmanager (default file)
	File     string `yaml:"file"`       // file: default <data_dir>/secrets.json
	KeyFile  string `yaml:"key_file"`   // file: default <data_dir>/secrets.key (keep it elsewhere in production)
	Prefix   string `yaml:"prefix"`     // secretsmanager: secret name prefix (default ovm/)
	KMSKeyID string `yaml:"kms_key_id"` // secretsmanager: KMS key of new secrets (default aws/secretsmanager)
}

// PoolConfig is one pool: the keys every pool has, and the blocks of its
// provider kind (Kind), which the kind's package defines.
type PoolConfig struct {
	Name     string       `yaml:"name"`
	Provider string       `yaml:"provider"`  // a kind of the registry (default sim)
	RoleName string       `yaml:"role_name"` // default OVMCrossAccountRole
	Stock    StockConfig  `yaml:"stock"`
	Lease    LeaseConfig  `yaml:"lease"`
	Retire   RetireConfig `yaml:"retire"`
	Retry    RetryConfig  `yaml:"retry"`
	// Budget is the budget of the pool's own template (none by default).
	Budget *BudgetConfig `yaml:"budget"`

	// Kind is the provider kind's configuration, its blocks decoded.
	Kind provider.Config `yaml:"-"`
	// policy is the pool's final policy (set by validate).
	policy ovm.Pool
}

// StockConfig is a pool's stock policy.
type StockConfig struct {
	Target  TargetValue `yaml:"target"`  // default 3; or auto
	Ceiling int         `yaml:"ceiling"` // default max(20, target)
	// Min, Max and HitRatio bound a target that follows demand (auto).
	Min      *int    `yaml:"min"`       // default 0
	Max      *int    `yaml:"max"`       // default the ceiling
	HitRatio float64 `yaml:"hit_ratio"` // default 0.99
	// MaxInFlight and MinSpacing default to what the provider kind
	// chooses (sim and organizations: 5 and 0s; signup: 1 and 2h).
	MaxInFlight *int           `yaml:"max_in_flight"`
	MinSpacing  *time.Duration `yaml:"min_spacing"`
}

// LeaseConfig is a pool's lease policy.
type LeaseConfig struct {
	DefaultTTL time.Duration `yaml:"default_ttl"` // default 24h
	MaxTTL     time.Duration `yaml:"max_ttl"`     // default 72h
	MinTTL     time.Duration `yaml:"min_ttl"`     // default 1m
	// MaxPerOwner caps one key's active leases in this pool (default:
	// half the ceiling, at least 1).
	MaxPerOwner int `yaml:"max_per_owner"`
	// Allowed says who may lease under the pool's own template (a
	// template's allowed; default everyone). Not a template's key.
	Allowed []string `yaml:"allowed"`
}

// RetireConfig is a pool's retire policy.
type RetireConfig struct {
	Mode           string        `yaml:"mode"`            // close | recycle (default close)
	MaxGenerations int           `yaml:"max_generations"` // recycle: wipes before closing (0 = no limit)
	CleanTimeout   time.Duration `yaml:"clean_timeout"`   // recycle: bound of one cleaning pass (default 30m)
	CleanPasses    int           `yaml:"clean_passes"`    // recycle: passes in a row, the last finding nothing (default 2)
	// ClockMargin is how far OVM's and AWS's clocks may disagree (default
	// 1m): a revocation denies the sessions issued before a lease's end and
	// the margin; a recycled account is stock again a margin after that.
	ClockMargin time.Duration `yaml:"clock_margin"`
}

// RetryConfig bounds retries of one step (a pool's) or one delivery (the
// notifications'). A key left out takes its owner's default: a pool's are
// ovm.Pool.WithDefaults' (5 attempts, 5s, 5m), the notifications'
// engine.NotifyConfig's (8, 5s, 10m).
type RetryConfig struct {
	MaxAttempts int           `yaml:"max_attempts"`
	BaseDelay   time.Duration `yaml:"base_delay"`
	MaxDelay    time.Duration `yaml:"max_delay"`
}

// defaultConfig holds the defaults this layer owns: where OVM listens and
// keeps its data, which store, the log, the AWS region. Every other default
// is its package's (engine.Config, httpapi.Config, webui.Config,
// ovm.Pool.WithDefaults, ...): a key left out stays zero here and takes the
// package's default, so that a default lives in one place only.
func defaultConfig() Config {
	return Config{Listen: "127.0.0.1:8080", DataDir: "./ovm-data", Store: "sqlite", LogLevel: "info", LogFormat: "text",
		ShutdownTimeout: 30 * time.Second, AWS: AWSConfig{Region: "us-east-1"}, DynamoDB: DynamoConfig{Table: "ovm"}}
}

// defaultPool is a pool's own defaults: the provider kind and a target of
// 3 (the domain's zero target is a pool with no stock); its policy's other
// defaults are ovm.Pool.WithDefaults'.
func defaultPool() PoolConfig {
	return PoolConfig{Provider: "sim", Stock: StockConfig{Target: TargetValue{N: 3}}}
}

// embeddedSpendPerHour is what each leased account of the embedded pool
// spends in the simulation, so that a newcomer sees a lease's spend grow
// (docs/spend.md).
const embeddedSpendPerHour = 3.6

// embeddedTarget is the embedded pool's stock: enough for the README's
// walkthrough (a vend, a lease, exec, the console's Take an account, and a
// few more) without meeting an empty stock.
const embeddedTarget = 10

// embeddedPool is the pool `ovm serve` runs when no pool is configured.
func embeddedPool() PoolConfig {
	p := defaultPool()
	p.Name = "default"
	p.Stock.Target = TargetValue{N: embeddedTarget}
	simCfg := kinds["sim"].NewConfig().(*sim.PoolConfig)
	simCfg.Sim.SpendPerHour = embeddedSpendPerHour
	p.Kind = simCfg
	return p
}

// TargetValue is stock.target: a whole number, or auto (the target follows
// demand within stock.min and stock.max).
type TargetValue struct {
	N    int
	Auto bool
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (t *TargetValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "auto" {
		*t = TargetValue{Auto: true}
		return nil
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		return fmt.Errorf("%q must be a whole number or auto", n.Value)
	}
	*t = TargetValue{N: v}
	return nil
}
