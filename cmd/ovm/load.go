package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
	"gopkg.in/yaml.v3"
)

// Reading the configuration file: YAML laid over the defaults, each pool's
// blocks decoded by its provider kind, and every value checked with the key
// that names it. A pool's policy is completed by its kind in
// pool_config.go; the notifications: block is checked in notify_config.go.

// loadConfig reads path ("" = no file: the embedded default) and validates.
func loadConfig(path string) (*Config, error) {
	cfg := defaultConfig()
	if path == "" {
		return &cfg, cfg.validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := parseConfig(data, &cfg); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.dir = filepath.Dir(path)
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &cfg, nil
}

// parseConfig decodes YAML into cfg (pre-filled with defaults). Unknown
// keys and values of the wrong type are reported with their key path.
func parseConfig(data []byte, cfg *Config) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, errEOF) {
		return fmt.Errorf("invalid yaml: %w", err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, errEOF) {
		return fmt.Errorf("line %d: the file holds more than one YAML document (---); OVM reads one", more.Line)
	}
	if len(root.Content) == 0 {
		return nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: the file must be a mapping of keys (listen:, pools:, ...)", doc.Line)
	}
	var pools *yaml.Node
	top := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "pools" {
			pools = doc.Content[i+1]
			continue
		}
		top.Content = append(top.Content, doc.Content[i], doc.Content[i+1])
	}
	if err := checkNode(top, typeOf[Config](), ""); err != nil {
		return err
	}
	if err := top.Decode(cfg); err != nil {
		return cleanYAMLError(err)
	}
	if pools == nil {
		return nil
	}
	if pools.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: pools: must be a list", pools.Line)
	}
	for i, n := range pools.Content {
		p, err := parsePool(n, fmt.Sprintf("pools[%d]", i))
		if err != nil {
			return err
		}
		cfg.Pools = append(cfg.Pools, p)
	}
	return nil
}

// parsePool decodes one pool: its common keys over the defaults, then the
// blocks of its provider kind.
func parsePool(n *yaml.Node, path string) (PoolConfig, error) {
	p := defaultPool()
	if n.Kind != yaml.MappingNode {
		return p, fmt.Errorf("line %d: %s: must be a mapping of keys", n.Line, path)
	}
	common := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	var blocks [][2]*yaml.Node
	fields := yamlFields(typeOf[PoolConfig]())
	for i := 0; i+1 < len(n.Content); i += 2 {
		if _, ok := fields[n.Content[i].Value]; ok {
			common.Content = append(common.Content, n.Content[i], n.Content[i+1])
		} else {
			blocks = append(blocks, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
		}
	}
	if err := checkNode(common, typeOf[PoolConfig](), path); err != nil {
		return p, err
	}
	if err := common.Decode(&p); err != nil {
		return p, fmt.Errorf("%s: %w", path, cleanYAMLError(err))
	}
	kind, ok := kinds[p.Provider]
	if !ok {
		return p, fmt.Errorf("%s.provider: %q must be one of %s", path, p.Provider, kindNames())
	}
	p.Kind = kind.NewConfig()
	own := p.Kind.Blocks()
	for _, b := range blocks {
		key, val := b[0], b[1]
		kp := path + "." + key.Value
		target, ok := own[key.Value]
		if !ok {
			if other := kindOfBlock(key.Value); other != "" {
				return p, fmt.Errorf("line %d: %s: is a block of provider %s; this pool's provider is %s", key.Line, kp, other, p.Provider)
			}
			known := keysOf(fields)
			for k := range own {
				known = append(known, k)
			}
			return p, unknownKey(key.Line, kp, known)
		}
		if err := checkNode(val, reflectTypeOf(target), kp); err != nil {
			return p, err
		}
		if err := val.Decode(target); err != nil {
			return p, fmt.Errorf("%s: %w", kp, cleanYAMLError(err))
		}
	}
	return p, nil
}

var tableRe = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

// smNameRe is what Secrets Manager allows in a secret name.
var smNameRe = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,256}$`)

// checkListen checks a listen address: host:port with a port in 0-65535.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535", addr)
	}
	return nil
}

// validate checks values, naming the key of the first wrong one, and
// completes each pool's policy with its provider kind.
func (c *Config) validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}
	if err := checkListen(c.Listen); err != nil {
		return bad("listen", "%v", err)
	}
	if c.Metrics.Listen != "" {
		if err := checkListen(c.Metrics.Listen); err != nil {
			return bad("metrics.listen", "%v", err)
		}
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
	if c.API.LeasesPerOwner != nil && *c.API.LeasesPerOwner < 0 {
		return bad("api.leases_per_owner", "must not be negative")
	}
	for _, r := range []struct {
		key      string
		v, least time.Duration
		why      string
	}{
		{"retention.events", c.Retention.Events, 24 * time.Hour, ""},
		{"retention.leases", c.Retention.Leases, 24 * time.Hour, ""},
		{"retention.accounts", c.Retention.Accounts, 2160 * time.Hour,
			": AWS lists a closed account for 90 days, and the drift check must still know it"},
	} {
		if r.v != 0 && r.v < r.least {
			return bad(r.key, "must be at least %s%s (leave it out for a year)", r.least, r.why)
		}
	}
	if c.API.AccessIssues < 0 {
		return bad("api.access_issues", "must not be negative (0 takes the default, 10)")
	}
	if c.API.AccessWindow < 0 {
		return bad("api.access_window", "must not be negative (0 takes the default, 1m)")
	}
	if c.API.MaxBodyBytes != 0 && c.API.MaxBodyBytes < 1024 {
		return bad("api.max_body_bytes", "must be at least 1024")
	}
	if err := c.Auth.Validate(); err != nil {
		return err
	}
	for i, ic := range c.Auth.OIDC {
		if cc := ic.Console; cc != nil && cc.ClientSecret != "" && (!strings.HasPrefix(cc.ClientSecret, "secret:") || len(cc.ClientSecret) == len("secret:")) {
			return bad(fmt.Sprintf("auth.oidc[%d].console.client_secret", i), "must name a vault entry as secret:NAME (ovm secret put NAME), or be empty for a public client")
		}
	}
	if t := c.UI.SessionTTL; t != 0 && (t < 5*time.Minute || t > 7*24*time.Hour) {
		return bad("ui.session_ttl", "%s must be between 5m and 168h", c.UI.SessionTTL)
	}
	if p := c.UI.PublicURL; p != "" {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return bad("ui.public_url", "%q must be an absolute https URL without a path (where browsers reach OVM)", p)
		}
	}
	if err := c.Access.Validate("access."); err != nil {
		return err
	}
	if err := c.validateSpend(); err != nil {
		return err
	}
	if err := c.engineConfig().WithDefaults().Validate(); err != nil {
		var fe *ovm.FieldError
		if errors.As(err, &fe) {
			return bad("engine."+fe.Field, "%s", fe.Message)
		}
		return bad("engine", "%v", err)
	}
	if len(c.Pools) == 0 {
		c.Pools = []PoolConfig{embeddedPool()}
	}
	settings := c.providerSettings()
	seen := map[string]bool{}
	for i := range c.Pools {
		p := &c.Pools[i]
		key := fmt.Sprintf("pools[%d]", i)
		if err := p.complete(settings); err != nil {
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
	}
	if c.API.DefaultPool == "" {
		c.API.DefaultPool = "default"
		if len(c.Pools) == 1 {
			c.API.DefaultPool = c.Pools[0].Name
		}
	}
	if err := c.Notifications.validate(seen); err != nil {
		return err
	}
	if _, err := c.spendCaps(); err != nil {
		return err
	}
	if err := c.validateTemplates(); err != nil {
		return err
	}
	if !seen[c.API.DefaultPool] {
		var names []string
		for _, p := range c.Pools {
			names = append(names, p.Name)
		}
		return bad("api.default_pool", "pool %q (used by GET /vend) is not defined; set api.default_pool to one of %s",
			c.API.DefaultPool, strings.Join(names, ", "))
	}
	return nil
}
