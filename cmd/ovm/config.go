package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/cleaner/awsnuke"
	"github.com/ovmdev/ovm/provider/awsorgs"
	"github.com/ovmdev/ovm/provider/signup"
	"github.com/ovmdev/ovm/provider/signup/awsconnect"
	"github.com/ovmdev/ovm/provider/sim"
	"gopkg.in/yaml.v3"
)

// Config is the YAML configuration file. Every key is documented in
// docs/config.md; unknown keys are an error.
type Config struct {
	Listen          string        `yaml:"listen"`           // default 127.0.0.1:8080
	DataDir         string        `yaml:"data_dir"`         // default ./ovm-data
	Store           string        `yaml:"store"`            // sqlite
	LogLevel        string        `yaml:"log_level"`        // debug | info | warn | error (default info)
	LogFormat       string        `yaml:"log_format"`       // text | json (default text)
	ShutdownTimeout Duration      `yaml:"shutdown_timeout"` // default 30s
	AWS             AWSConfig     `yaml:"aws"`
	DynamoDB        DynamoConfig  `yaml:"dynamodb"`
	Secrets         SecretsConfig `yaml:"secrets"`
	API             APIConfig     `yaml:"api"`
	Engine          EngineConfig  `yaml:"engine"`
	Pools           []PoolConfig  `yaml:"pools"`
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
	DefaultPool    string   `yaml:"default_pool"`     // pool of GET /vend (default "default")
	LeasesPerOwner int      `yaml:"leases_per_owner"` // active leases per key (default 100; 0 = no limit)
	MaxBodyBytes   int64    `yaml:"max_body_bytes"`   // default 65536
	MaxWait        Duration `yaml:"max_wait"`         // longest long-poll (default 5m)
}

// EngineConfig tunes the reconciler.
type EngineConfig struct {
	Tick        Duration `yaml:"tick"`         // default 1s
	BatchSize   int      `yaml:"batch_size"`   // default 64
	Parallelism int      `yaml:"parallelism"`  // default 8
	ClaimTTL    Duration `yaml:"claim_ttl"`    // default 2m
	StepTimeout Duration `yaml:"step_timeout"` // default 1m
	// DriftInterval is how often AWS is compared with the store (default 10m).
	DriftInterval Duration `yaml:"drift_interval"`
	// LeaderTTL is how long the planner's leader lease lasts (default 15s).
	LeaderTTL Duration `yaml:"leader_ttl"`
	// Instance names this replica in claims and leases (default host-pid).
	Instance string `yaml:"instance"`
}

// PoolConfig is one pool.
type PoolConfig struct {
	Name     string       `yaml:"name"`
	Provider string       `yaml:"provider"`  // sim | organizations | signup
	RoleName string       `yaml:"role_name"` // default OVMCrossAccountRole
	Stock    StockConfig  `yaml:"stock"`
	Lease    LeaseConfig  `yaml:"lease"`
	Retire   RetireConfig `yaml:"retire"`
	Retry    RetryConfig  `yaml:"retry"`
	Sim      SimConfig    `yaml:"sim"`
	// Organizations configures provider: organizations.
	Organizations OrganizationsConfig `yaml:"organizations"`
	// Nuke configures the aws-nuke wipes of a recycle pool (organizations).
	Nuke NukeConfig `yaml:"nuke"`
	// Signup configures provider: signup.
	Signup SignupConfig `yaml:"signup"`
}

// SignupConfig is the signup provider's block. Contact and card values may
// be "secret:NAME", read from the secrets vault at start.
type SignupConfig struct {
	BaseURL          string         `yaml:"base_url"`          // the sign-up site (required)
	FlowFile         string         `yaml:"flow_file"`         // default: the shipped flow
	Chromium         string         `yaml:"chromium"`          // default /usr/bin/chromium
	EmailTemplate    string         `yaml:"email_template"`    // root e-mail; {id} = OVM id (required)
	NamePrefix       string         `yaml:"name_prefix"`       // default ovm-
	TrustedPrincipal string         `yaml:"trusted_principal"` // ARN the vended role trusts (required)
	Contact          SignupContact  `yaml:"contact"`
	Card             SignupCard     `yaml:"card"`
	Billing          SignupBilling  `yaml:"billing"`
	PhoneNumbers     []string       `yaml:"phone_numbers"` // verification numbers (required)
	Inbox            SignupInbox    `yaml:"inbox"`
	CaptchaSolvers   []SolverConfig `yaml:"captcha_solvers"` // tried in order (default: human)
	PageTimeout      Duration       `yaml:"page_timeout"`    // default 30s
	SmokeTest        bool           `yaml:"smoke_test"`      // assume the vended role before ready (default true)
	Burial           BurialConfig   `yaml:"burial"`
	Connect          *ConnectConfig `yaml:"connect"` // answer the verification call with Amazon Connect
	Evidence         SignupEvidence `yaml:"evidence"`
}

// SignupEvidence copies failed steps' evidence to S3 as well (useful with
// several replicas: the local copy is on the replica that ran the step).
type SignupEvidence struct {
	S3Bucket string `yaml:"s3_bucket"` // "" = local only
	S3Prefix string `yaml:"s3_prefix"` // default evidence/
}

// ConnectConfig sets up Amazon Connect to key in the verification PIN:
// OVM makes the DTMF prompts and one contact flow per phone number.
type ConnectConfig struct {
	InstanceARN  string   `yaml:"instance_arn"`  // arn:aws:connect:REGION:ACCOUNT:instance/ID (required)
	PromptBucket string   `yaml:"prompt_bucket"` // S3 bucket Connect reads the prompt WAVs from (required)
	PromptPrefix string   `yaml:"prompt_prefix"` // default ovm-prompts/
	AnswerDelay  Duration `yaml:"answer_delay"`  // silence before the first tone (default 3s)
}

// BurialConfig retires vended management accounts through the API into
// OVM's graveyard organization (the organization of OVM's AWS credentials).
type BurialConfig struct {
	Enabled     bool   `yaml:"enabled"`      // default false: console closure by the root user
	GraveyardOU string `yaml:"graveyard_ou"` // OU for buried accounts ("" = root)
	CloseQuota  int    `yaml:"close_quota"`  // the graveyard's closures per 30 days (default 10)
}

// SignupContact is the contact page's data.
type SignupContact struct {
	FullName   string `yaml:"full_name"`
	Company    string `yaml:"company"`
	Phone      string `yaml:"phone"`
	Country    string `yaml:"country"`
	Address    string `yaml:"address"`
	City       string `yaml:"city"`
	State      string `yaml:"state"`
	PostalCode string `yaml:"postal_code"`
}

// SignupCard is the payment page's data (use secret: references).
type SignupCard struct {
	Number string `yaml:"number"`
	Month  string `yaml:"month"`
	Year   string `yaml:"year"`
	Holder string `yaml:"holder"`
}

// SignupBilling is the console's billing preferences.
type SignupBilling struct {
	Currency string `yaml:"currency"`
	Email    string `yaml:"email"`
}

// SignupInbox is where the sign-up e-mails arrive: the S3 bucket of an SES
// receipt rule, or an IMAP mailbox. Set exactly one.
type SignupInbox struct {
	S3Bucket string      `yaml:"s3_bucket"`
	S3Prefix string      `yaml:"s3_prefix"`
	IMAP     *IMAPConfig `yaml:"imap"`
}

// IMAPConfig is an IMAP mailbox.
type IMAPConfig struct {
	Address  string `yaml:"address"`  // host:port (required)
	Username string `yaml:"username"` // (required)
	Password string `yaml:"password"` // use secret:NAME (required)
	Mailbox  string `yaml:"mailbox"`  // default INBOX
	Security string `yaml:"security"` // tls (default) | starttls | none (loopback only)
}

// SolverConfig is one captcha solver: set exactly one of command, human,
// transcribe or twocaptcha.
type SolverConfig struct {
	Command    []string          `yaml:"command"` // gets the file as its last argument, prints the answer
	For        []string          `yaml:"for"`     // audio, image (default: what the solver can do)
	Human      bool              `yaml:"human"`
	Transcribe *TranscribeSolver `yaml:"transcribe"` // audio, through Amazon Transcribe
	TwoCaptcha *TwoCaptchaSolver `yaml:"twocaptcha"` // a 2captcha-compatible service
}

// TranscribeSolver solves audio captchas with Amazon Transcribe.
type TranscribeSolver struct {
	Bucket   string `yaml:"bucket"`   // S3 bucket for the audio and the transcript (required)
	Prefix   string `yaml:"prefix"`   // default ovm-captcha/
	Language string `yaml:"language"` // default en-US
}

// TwoCaptchaSolver is a service speaking the 2captcha API.
type TwoCaptchaSolver struct {
	URL string `yaml:"url"` // e.g. https://2captcha.com (required)
	Key string `yaml:"key"` // account key: use secret:NAME
}

// kinds is how many solver kinds the entry sets.
func (s SolverConfig) kinds() int {
	n := 0
	for _, set := range []bool{len(s.Command) > 0, s.Human, s.Transcribe != nil, s.TwoCaptcha != nil} {
		if set {
			n++
		}
	}
	return n
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

// NukeConfig is the aws-nuke block of a recycle pool.
type NukeConfig struct {
	Binary            string   `yaml:"binary"`             // default aws-nuke (on PATH)
	Regions           []string `yaml:"regions"`            // default [global, aws.region]
	Include           []string `yaml:"include"`            // resource types to wipe (empty: all)
	Exclude           []string `yaml:"exclude"`            // resource types to leave
	ProtectedAccounts []string `yaml:"protected_accounts"` // never touched, besides the management account
}

// OrganizationsConfig is the organizations provider's block.
type OrganizationsConfig struct {
	EmailTemplate   string            `yaml:"email_template"`   // required: e.g. aws+{id}@example.com
	NamePrefix      string            `yaml:"name_prefix"`      // default ovm-
	ParentOU        string            `yaml:"parent_ou"`        // default: leave under the root
	CreationRole    string            `yaml:"creation_role"`    // default OrganizationAccountAccessRole
	RoleName        string            `yaml:"role_name"`        // default: the pool's role_name
	TrustPrincipals []string          `yaml:"trust_principals"` // default: the management account
	RolePolicyARNs  []string          `yaml:"role_policy_arns"` // default AdministratorAccess
	BillingContact  *ContactConfig    `yaml:"billing_contact"`
	Tags            map[string]string `yaml:"tags"`
	CloseQuota      int               `yaml:"close_quota"`   // per rolling 30 days (default 10)
	MaxInFlight     int               `yaml:"max_in_flight"` // creations at once (default 5, AWS's limit)
	PollInterval    Duration          `yaml:"poll_interval"` // default 10s
	IAMWait         Duration          `yaml:"iam_wait"`      // default 10m
}

// ContactConfig is an alternate contact.
type ContactConfig struct {
	Name  string `yaml:"name"`
	Title string `yaml:"title"`
	Email string `yaml:"email"`
	Phone string `yaml:"phone"`
}

// StockConfig is a pool's stock policy.
type StockConfig struct {
	Target      int      `yaml:"target"`        // default 3
	Ceiling     int      `yaml:"ceiling"`       // default max(20, target)
	MaxInFlight int      `yaml:"max_in_flight"` // default 5
	MinSpacing  Duration `yaml:"min_spacing"`   // default 0s
}

// LeaseConfig is a pool's lease policy.
type LeaseConfig struct {
	DefaultTTL Duration `yaml:"default_ttl"` // default 24h
	MaxTTL     Duration `yaml:"max_ttl"`     // default 72h
	MinTTL     Duration `yaml:"min_ttl"`     // default 1m
}

// RetireConfig is a pool's retire policy.
type RetireConfig struct {
	Mode           string   `yaml:"mode"`            // close | recycle (default close)
	MaxGenerations int      `yaml:"max_generations"` // recycle: wipes before closing (0 = no limit)
	CleanTimeout   Duration `yaml:"clean_timeout"`   // recycle: bound of one cleaning pass (default 30m)
	CleanPasses    int      `yaml:"clean_passes"`    // recycle: passes in a row, the last finding nothing (default 2)
}

// RetryConfig bounds retries of one step.
type RetryConfig struct {
	MaxAttempts int      `yaml:"max_attempts"` // default 5
	BaseDelay   Duration `yaml:"base_delay"`   // default 5s
	MaxDelay    Duration `yaml:"max_delay"`    // default 5m
}

// SimConfig is the simulated provider's knobs (provider: sim).
type SimConfig struct {
	CreateLatency    Duration `yaml:"create_latency"`    // default 3s
	BootstrapLatency Duration `yaml:"bootstrap_latency"` // default 2s
	CleanLatency     Duration `yaml:"clean_latency"`     // default 2s
	CloseLatency     Duration `yaml:"close_latency"`     // default 2s
	MaxInFlight      int      `yaml:"max_in_flight"`     // default 5 (0 = no cap)
	CloseQuota       int      `yaml:"close_quota"`       // default 0 = no quota
	CloseWindow      Duration `yaml:"close_window"`      // default 720h
	FailureRate      float64  `yaml:"failure_rate"`      // default 0
	Seed             uint64   `yaml:"seed"`              // default 0 = random
	CallDelay        Duration `yaml:"call_delay"`        // real time each call blocks (default 0)
}

// Duration is a Go duration string in YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use \"90s\", \"30m\", \"24h\")", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q must not be negative", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func defaultConfig() Config {
	return Config{Listen: "127.0.0.1:8080", DataDir: "./ovm-data", Store: "sqlite", LogLevel: "info", LogFormat: "text",
		ShutdownTimeout: Duration(30 * time.Second), AWS: AWSConfig{Region: "us-east-1"}, DynamoDB: DynamoConfig{Table: "ovm"},
		API: APIConfig{DefaultPool: "default", LeasesPerOwner: 100, MaxBodyBytes: 64 << 10, MaxWait: Duration(5 * time.Minute)},
		Engine: EngineConfig{Tick: Duration(time.Second), BatchSize: 64, Parallelism: 8,
			ClaimTTL: Duration(2 * time.Minute), StepTimeout: Duration(time.Minute), DriftInterval: Duration(10 * time.Minute),
			LeaderTTL: Duration(15 * time.Second)},
	}
}

func defaultPool() PoolConfig {
	d := sim.DefaultConfig()
	return PoolConfig{Provider: "sim", RoleName: ovm.DefaultRoleName,
		Stock:  StockConfig{Target: 3, MaxInFlight: 5},
		Lease:  LeaseConfig{DefaultTTL: Duration(24 * time.Hour), MaxTTL: Duration(72 * time.Hour), MinTTL: Duration(time.Minute)},
		Retire: RetireConfig{Mode: "close", CleanTimeout: Duration(30 * time.Minute), CleanPasses: 2},
		Retry:  RetryConfig{MaxAttempts: 5, BaseDelay: Duration(5 * time.Second), MaxDelay: Duration(5 * time.Minute)},
		Sim: SimConfig{CreateLatency: Duration(d.CreateLatency), BootstrapLatency: Duration(d.BootstrapLatency),
			CleanLatency: Duration(d.CleanLatency), CloseLatency: Duration(d.CloseLatency), MaxInFlight: d.MaxInFlight,
			CloseWindow: Duration(d.CloseWindow)},
	}
}

// loadConfig reads path ("" = no file: the embedded default) and validates.
func loadConfig(path string) (*Config, error) {
	cfg := defaultConfig()
	if path == "" {
		p := defaultPool()
		p.Name = "default"
		cfg.Pools = []PoolConfig{p}
		return &cfg, cfg.validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := parseConfig(data, &cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &cfg, nil
}

// parseConfig decodes YAML into cfg (pre-filled with defaults). Unknown
// keys are reported with their full path and the keys that would fit.
func parseConfig(data []byte, cfg *Config) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return fmt.Errorf("invalid yaml: %w", err)
	}
	if len(root.Content) == 0 {
		return nil
	}
	doc := root.Content[0]
	if err := checkKeys(doc, reflect.TypeOf(Config{}), ""); err != nil {
		return err
	}
	var pools []yaml.Node
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "pools" {
			if doc.Content[i+1].Kind != yaml.SequenceNode {
				return fmt.Errorf("line %d: pools: must be a list", doc.Content[i+1].Line)
			}
			for _, n := range doc.Content[i+1].Content {
				pools = append(pools, *n)
			}
			doc.Content[i+1] = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		}
	}
	if err := doc.Decode(cfg); err != nil {
		return cleanYAMLError(err)
	}
	cfg.Pools = nil
	for i := range pools {
		p := defaultPool()
		var peek struct {
			Provider string `yaml:"provider"`
		}
		pools[i].Decode(&peek)
		if peek.Provider == "signup" {
			// Sign-ups go one at a time and hours apart: phone numbers
			// get blocked when used faster.
			p.Stock.MaxInFlight, p.Stock.MinSpacing = 1, Duration(2*time.Hour)
			p.Signup.SmokeTest = true
		}
		if err := pools[i].Decode(&p); err != nil {
			return fmt.Errorf("pools[%d]: %w", i, cleanYAMLError(err))
		}
		cfg.Pools = append(cfg.Pools, p)
	}
	return nil
}

func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return err
}

// checkKeys walks a mapping node along struct type t and reports the first
// key that is not a field, naming its path.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if tag != "" && tag != "-" {
				fields[tag] = t.Field(i).Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			ft, ok := fields[k]
			key := strings.TrimPrefix(path+"."+k, ".")
			if !ok {
				known := make([]string, 0, len(fields))
				for f := range fields {
					known = append(known, f)
				}
				sort.Strings(known)
				return fmt.Errorf("line %d: %s: unknown key (known keys here: %s)", n.Content[i].Line, key, strings.Join(known, ", "))
			}
			if err := checkKeys(n.Content[i+1], ft, key); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Struct && n.Kind != yaml.MappingNode && t != reflect.TypeOf(Duration(0)):
		return fmt.Errorf("line %d: %s: must be a mapping of keys", n.Line, path)
	}
	return nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// smNameRe is what Secrets Manager allows in a secret name.
var smNameRe = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,256}$`)

var tableRe = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// validate checks values, naming the key of the first wrong one.
func (c *Config) validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return bad("listen", "%q is not host:port", c.Listen)
	}
	if c.DataDir == "" {
		return bad("data_dir", "must not be empty")
	}
	switch c.Store {
	case "sqlite":
	case "dynamodb":
		if !tableRe.MatchString(c.DynamoDB.Table) {
			return bad("dynamodb.table", "%q is not a DynamoDB table name (3-255 of a-z A-Z 0-9 _ - .)", c.DynamoDB.Table)
		}
	default:
		return bad("store", "%q must be sqlite or dynamodb", c.Store)
	}
	switch c.Secrets.Backend {
	case "", "file":
	case "secretsmanager":
		if c.Secrets.File != "" || c.Secrets.KeyFile != "" {
			return bad("secrets.file", "is for backend file; secretsmanager keeps no local file")
		}
		if c.Secrets.Prefix != "" && !smNameRe.MatchString(c.Secrets.Prefix) {
			return bad("secrets.prefix", "%q may only hold a-z A-Z 0-9 / _ + = . @ -", c.Secrets.Prefix)
		}
	default:
		return bad("secrets.backend", "%q must be file or secretsmanager", c.Secrets.Backend)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return bad("log_level", "%v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return bad("log_format", "%q must be text or json", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		return bad("shutdown_timeout", "must be positive")
	}
	if c.API.LeasesPerOwner < 0 {
		return bad("api.leases_per_owner", "must not be negative")
	}
	if c.API.MaxBodyBytes < 1024 {
		return bad("api.max_body_bytes", "must be at least 1024")
	}
	if c.Engine.Tick < Duration(10*time.Millisecond) {
		return bad("engine.tick", "must be at least 10ms")
	}
	if c.Engine.BatchSize < 1 || c.Engine.Parallelism < 1 {
		return bad("engine", "batch_size and parallelism must be at least 1")
	}
	if c.Engine.DriftInterval < Duration(time.Second) {
		return bad("engine.drift_interval", "must be at least 1s")
	}
	if c.Engine.LeaderTTL < 3*c.Engine.Tick {
		return bad("engine.leader_ttl", "must be at least 3 ticks (%s)", 3*c.Engine.Tick.D())
	}
	if c.Engine.StepTimeout >= c.Engine.ClaimTTL {
		return bad("engine.step_timeout", "must be below engine.claim_ttl (%s)", c.Engine.ClaimTTL.D())
	}
	if len(c.Pools) == 0 {
		return bad("pools", "at least one pool is required")
	}
	seen := map[string]bool{}
	for i, p := range c.Pools {
		key := fmt.Sprintf("pools[%d]", i)
		if err := p.policy().Validate(); err != nil {
			var fe *ovm.FieldError
			if errors.As(err, &fe) {
				return bad(key+"."+fe.Field, "%s", fe.Message)
			}
			return bad(key, "%v", err)
		}
		if seen[p.Name] {
			return bad(key+".name", "pool %q is defined twice", p.Name)
		}
		seen[p.Name] = true
		switch p.Provider {
		case "sim":
			if p.Sim.FailureRate < 0 || p.Sim.FailureRate > 1 {
				return bad(key+".sim.failure_rate", "must be between 0 and 1")
			}
			if p.Sim.MaxInFlight < 0 || p.Sim.CloseQuota < 0 {
				return bad(key+".sim", "max_in_flight and close_quota must not be negative")
			}
		case "organizations":
			o := p.Organizations
			if o.RoleName != "" && p.RoleName != ovm.DefaultRoleName && o.RoleName != p.RoleName {
				return bad(key+".organizations.role_name", "%q differs from the pool's role_name %q; set one of them", o.RoleName, p.RoleName)
			}
			if o.MaxInFlight < 0 || o.MaxInFlight > 5 {
				return bad(key+".organizations.max_in_flight", "must be between 1 and 5 (AWS allows 5 creations in progress)")
			}
			if p.Retire.Mode == "recycle" {
				bin := p.Nuke.Binary
				if bin == "" {
					bin = "aws-nuke"
				}
				if _, err := exec.LookPath(bin); err != nil {
					return bad(key+".nuke.binary", "%q is not installed (apt-get install -y aws-nuke): recycling needs it", bin)
				}
				if _, err := awsnuke.Generate(p.nukeParams(c.AWS)); err != nil {
					return bad(key+".nuke", "%v", err)
				}
			}
			if err := p.orgsConfig().WithDefaults().Validate(); err != nil {
				var fe *ovm.FieldError
				if errors.As(err, &fe) {
					return bad(key+"."+fe.Field, "%s", fe.Message)
				}
				return bad(key+".organizations", "%v", err)
			}
		case "signup":
			sc := p.Signup
			switch {
			case sc.BaseURL == "":
				return bad(key+".signup.base_url", "is required")
			case !strings.Contains(sc.EmailTemplate, "{id}"):
				return bad(key+".signup.email_template", "must contain {id}")
			case sc.TrustedPrincipal == "":
				return bad(key+".signup.trusted_principal", "is required (the ARN the vended role trusts)")
			case len(sc.PhoneNumbers) == 0:
				return bad(key+".signup.phone_numbers", "at least one verification number is required")
			case (sc.Inbox.S3Bucket == "") == (sc.Inbox.IMAP == nil):
				return bad(key+".signup.inbox", "set exactly one of s3_bucket (SES stores received mail there) or imap")
			}
			if cc := sc.Connect; cc != nil {
				if _, err := awsconnect.InstanceID(cc.InstanceARN); err != nil {
					return bad(key+".signup.connect.instance_arn", "%q is not a Connect instance ARN (arn:aws:connect:REGION:ACCOUNT:instance/ID)", cc.InstanceARN)
				}
				if cc.PromptBucket == "" {
					return bad(key+".signup.connect.prompt_bucket", "is required (Connect reads the prompts from it)")
				}
				if cc.AnswerDelay < 0 || cc.AnswerDelay.D() > time.Minute {
					return bad(key+".signup.connect.answer_delay", "must be between 0 and 1m")
				}
			}
			if m := sc.Inbox.IMAP; m != nil {
				ik := key + ".signup.inbox.imap."
				host, _, err := net.SplitHostPort(m.Address)
				switch {
				case err != nil:
					return bad(ik+"address", "%q is not host:port", m.Address)
				case m.Username == "":
					return bad(ik+"username", "is required")
				case m.Password == "":
					return bad(ik+"password", "is required (use secret:NAME)")
				case m.Security != "" && m.Security != "tls" && m.Security != "starttls" && m.Security != "none":
					return bad(ik+"security", "%q must be tls, starttls or none", m.Security)
				case m.Security == "none" && !isLoopback(host):
					return bad(ik+"security", "none sends the password in clear: only for a server on loopback, not %s", host)
				}
			}
			for j, sv := range sc.CaptchaSolvers {
				sk := fmt.Sprintf("%s.signup.captcha_solvers[%d]", key, j)
				switch {
				case sv.kinds() != 1:
					return bad(sk, "set exactly one of command, human, transcribe or twocaptcha")
				case sv.Transcribe != nil && sv.Transcribe.Bucket == "":
					return bad(sk+".transcribe.bucket", "is required (Transcribe reads the audio from it)")
				case sv.TwoCaptcha != nil && !strings.HasPrefix(sv.TwoCaptcha.URL, "http"):
					return bad(sk+".twocaptcha.url", "%q is not an http(s) URL", sv.TwoCaptcha.URL)
				case sv.TwoCaptcha != nil && sv.TwoCaptcha.Key == "":
					return bad(sk+".twocaptcha.key", "is required (use secret:NAME)")
				}
				for _, k := range sv.For {
					if k != "audio" && k != "image" {
						return bad(sk+".for", "%q must be audio or image", k)
					}
				}
			}
			if _, err := signup.LoadFlow(sc.FlowFile); err != nil {
				return bad(key+".signup.flow_file", "%v", err)
			}
		default:
			return bad(key+".provider", "%q must be sim, organizations or signup", p.Provider)
		}
	}
	if !seen[c.API.DefaultPool] {
		return bad("api.default_pool", "pool %q (used by GET /vend) is not defined", c.API.DefaultPool)
	}
	return nil
}

func (p PoolConfig) policy() ovm.Pool {
	role, inFlight := p.RoleName, p.Stock.MaxInFlight
	if p.Provider == "organizations" {
		if p.Organizations.RoleName != "" {
			role = p.Organizations.RoleName
		}
		if m := p.Organizations.MaxInFlight; m > 0 && m < inFlight {
			inFlight = m
		}
	}
	return ovm.Pool{Name: p.Name, Provider: p.Provider, RoleName: role,
		Stock: ovm.StockPolicy{Target: p.Stock.Target, Ceiling: p.Stock.Ceiling, MaxInFlight: inFlight,
			MinSpacing: p.Stock.MinSpacing.D()},
		Lease: ovm.LeasePolicy{DefaultTTL: p.Lease.DefaultTTL.D(), MaxTTL: p.Lease.MaxTTL.D(), MinTTL: p.Lease.MinTTL.D()},
		Retire: ovm.RetirePolicy{Mode: ovm.RetireMode(p.Retire.Mode), MaxGenerations: p.Retire.MaxGenerations,
			CleanTimeout: p.Retire.CleanTimeout.D(), CleanPasses: p.Retire.CleanPasses},
		Retry: ovm.RetryPolicy{MaxAttempts: p.Retry.MaxAttempts, BaseDelay: p.Retry.BaseDelay.D(), MaxDelay: p.Retry.MaxDelay.D()},
	}.WithDefaults()
}

func (s SimConfig) config(statePath, roleName string) sim.Config {
	return sim.Config{CreateLatency: s.CreateLatency.D(), BootstrapLatency: s.BootstrapLatency.D(),
		CleanLatency: s.CleanLatency.D(), CloseLatency: s.CloseLatency.D(), MaxInFlight: s.MaxInFlight,
		CloseQuota: s.CloseQuota, CloseWindow: s.CloseWindow.D(), FailureRate: s.FailureRate, Seed: s.Seed,
		RoleName: roleName, StatePath: statePath, CallDelay: s.CallDelay.D()}
}

// orgsConfig is the organizations provider's configuration of pool p.
func (p PoolConfig) orgsConfig() awsorgs.Config {
	o := p.Organizations
	c := awsorgs.Config{Pool: p.Name, EmailTemplate: o.EmailTemplate, NamePrefix: o.NamePrefix, ParentOU: o.ParentOU,
		CreationRole: o.CreationRole, RoleName: p.policy().RoleName, TrustPrincipals: o.TrustPrincipals,
		RolePolicyARNs: o.RolePolicyARNs, Tags: o.Tags, CloseQuota: o.CloseQuota, PollInterval: o.PollInterval.D(),
		IAMWait: o.IAMWait.D()}
	if bc := o.BillingContact; bc != nil {
		c.BillingContact = &awsorgs.Contact{Name: bc.Name, Title: bc.Title, Email: bc.Email, Phone: bc.Phone}
	}
	return c
}

// nukeConfig is the organizations provider's wipe configuration of pool p.
func (p PoolConfig) nukeConfig(a AWSConfig) awsorgs.NukeConfig {
	regions := p.Nuke.Regions
	if len(regions) == 0 {
		regions = []string{"global", a.Region}
	}
	return awsorgs.NukeConfig{Regions: regions, Include: p.Nuke.Include, Exclude: p.Nuke.Exclude,
		Protected: p.Nuke.ProtectedAccounts, Endpoint: a.Endpoint, Region: a.Region}
}

// nukeParams checks the wipe configuration with placeholder accounts.
func (p PoolConfig) nukeParams(a AWSConfig) awsnuke.Params {
	n := p.nukeConfig(a)
	return awsnuke.Params{Target: "000000000001", Management: "000000000002", Protected: n.Protected, Regions: n.Regions,
		Include: n.Include, Exclude: n.Exclude, Endpoint: n.Endpoint, EndpointRegion: n.Region}
}
