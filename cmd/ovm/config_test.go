package main

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm/federation"
	"github.com/ovmdev/ovm/provider/signup/setup"
	"github.com/ovmdev/ovm/provider/sim"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ovm.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func simOf(p PoolConfig) sim.Config { return p.Kind.(*sim.PoolConfig).Sim }

func TestNoConfigGivesTheEmbeddedDefault(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools[0]
	if cfg.Listen != "127.0.0.1:8080" || cfg.DataDir != "./ovm-data" || len(cfg.Pools) != 1 || p.Name != "default" ||
		p.Provider != "sim" || p.Stock.Target.N != 10 || p.Policy().Lease.DefaultTTL != 24*time.Hour {
		t.Fatalf("default config %+v", cfg)
	}
	if got := simOf(p).SpendPerHour; got != embeddedSpendPerHour || got <= 0 {
		t.Fatalf("the embedded pool spends %v USD an hour: a newcomer sees no spend", got)
	}
	// A configured sim pool spends nothing unless it says so.
	cfg, err = loadConfig(writeConfig(t, "pools: [{name: mine}]"))
	if err != nil || simOf(cfg.Pools[0]).SpendPerHour != 0 {
		t.Fatalf("a configured pool spends %v (%v)", simOf(cfg.Pools[0]).SpendPerHour, err)
	}
}

func TestAFullConfigParses(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, `
listen: 127.0.0.1:9090
data_dir: /tmp/x
store: sqlite
aws: {region: eu-west-1, endpoint: "http://127.0.0.1:5000"}
pools:
  - name: default
    provider: sim
    stock: {target: 2, ceiling: 4, max_in_flight: 1, min_spacing: 10s}
    lease: {default_ttl: 1h, max_ttl: 2h, min_ttl: 1s}
    retire: {mode: recycle, max_generations: 3}
    sim: {create_latency: 100ms, failure_rate: 0.3}
  - name: other
`))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools[0].Policy()
	if cfg.Listen != "127.0.0.1:9090" || p.Stock.Target != 2 || p.Stock.MinSpacing != 10*time.Second || p.Lease.MinTTL != time.Second ||
		p.Retire.MaxGenerations != 3 || simOf(cfg.Pools[0]).FailureRate != 0.3 || simOf(cfg.Pools[0]).BootstrapLatency != 2*time.Second {
		t.Fatalf("parsed %+v", cfg.Pools[0])
	}
	if o := cfg.Pools[1]; o.Provider != "sim" || o.Stock.Target.N != 3 {
		t.Fatalf("second pool did not get defaults: %+v", o)
	}
}

func TestABadConfigFailsNamingTheKey(t *testing.T) {
	cases := map[string]string{
		"pools[0].stock.targett: unknown key": "pools:\n  - name: default\n    stock: {targett: 3}\n",
		"lease_ttl: unknown key":              "lease_ttl: 1h\npools: [{name: default}]\n",
		"pools[0].stock.ceiling":              "pools:\n  - name: default\n    stock: {target: 5, ceiling: 2}\n",
		"pools[0].lease.max_ttl":              "pools:\n  - name: default\n    lease: {default_ttl: 100h, max_ttl: 72h}\n",
		"is not a duration":                   "pools:\n  - name: default\n    lease: {max_ttl: 3 days}\n",
		"pools[0].retire.mode":                "pools:\n  - name: default\n    retire: {mode: burn}\n",
		"pools[0].provider":                   "pools:\n  - name: default\n    provider: azure\n",
		"pools[1].name":                       "pools: [{name: default}, {name: default}]\n",
		"api.default_pool":                    "pools: [{name: one}, {name: two}]\n",
		"listen":                              "listen: nope\npools: [{name: default}]\n",
		"pools[0].sim.failure_rate":           "pools:\n  - name: default\n    sim: {failure_rate: 2}\n",
		"invalid yaml":                        "pools: [\n",
		"pools[0].name":                       "pools: [{name: 'Bad Name'}]\n",
		"store":                               "store: postgres\npools: [{name: default}]\n",
		"pools[0].stock: must be a mapping":   "pools:\n  - name: default\n    stock: 3\n",
		`pools[0].stock.target: "many" must be a whole number or auto`: "pools:\n  - name: default\n    stock: {target: many}\n",
		"pools[0].stock.min: applies only to stock.target: auto":       "pools:\n  - name: default\n    stock: {target: 2, min: 1}\n",
		"pools[0].stock.max: must be at least stock.min (5)":           "pools:\n  - name: default\n    stock: {target: auto, min: 5, max: 3}\n",
		"pools[0].stock.max: must be at most stock.ceiling (10)":       "pools:\n  - name: default\n    stock: {target: auto, max: 12, ceiling: 10}\n",
		"pools[0].stock.hit_ratio: must be above 0 and at most 1":      "pools:\n  - name: default\n    stock: {target: auto, hit_ratio: 99}\n",
		"secrets.backend": "secrets: {backend: vault}\npools: [{name: default}]\n",
		"retention.accounts: must be at least 2160h0m0s: AWS lists a closed account for 90 days": "retention: {accounts: 720h}\n",
		"retention.events: must be at least 24h0m0s":                                             "retention: {events: 1h}\n",
		"retention.leases: must be at least 24h0m0s":                                             "retention: {leases: 12h}\n",
		"api.access_issues: must not be negative":                                                "api: {access_issues: -1}\n",
		"engine.leader_ttl: must be at least 3 ticks (6s)":                                       "engine: {tick: 2s, leader_ttl: 5s}\n",
		"engine.claim_ttl: must be at least 3s":                                                  "engine: {claim_ttl: 1s}\n",
		"engine.tick: must be at least 10ms":                                                     "engine: {tick: 1ms}\n",
		"ui.session_ttl":                                                                         "ui: {session_ttl: 1m}\n",
		"api.max_body_bytes: must be at least 1024":                                              "api: {max_body_bytes: 100}\n",
		"secrets.file": "secrets: {backend: secretsmanager, file: x}\npools: [{name: default}]\n",
		`pools[0].lease.max_ttl: duration "-1h" must not be negative`:                               "pools:\n  - name: default\n    lease: {max_ttl: -1h}\n",
		`engine.tick: "soon" is not a duration`:                                                     "engine: {tick: soon}\n",
		`api.leases_per_owner: "lots" must be a whole number`:                                       "api: {leases_per_owner: lots}\n",
		"pools[0].stock.max_in_flight: 4 is above the provider's cap of 2 (sim.max_in_flight)":      "pools:\n  - name: default\n    sim: {max_in_flight: 2}\n    stock: {max_in_flight: 4}\n",
		"pools[0].stock.max_in_flight: must be at least 1":                                          "pools:\n  - name: default\n    stock: {max_in_flight: 0}\n",
		"pools[0].organizations: is a block of provider organizations; this pool's provider is sim": "pools:\n  - name: default\n    organizations: {email_template: \"a+{id}@example.com\"}\n",
		"pools[0].signup: is a block of provider signup":                                            "pools:\n  - name: default\n    signup: {}\n",
		"pools[0].sim.latency: unknown key":                                                         "pools:\n  - name: default\n    sim: {latency: 1s}\n",
		"pools[0].nonsense: unknown key":                                                            "pools:\n  - name: default\n    nonsense: 1\n",
		"pools[0].lease.max_per_owner: must be at least 1":                                          "pools:\n  - name: default\n    lease: {max_per_owner: -2}\n",
		"pools[0].sim.seed: must be a single value, not a list":                                     "pools:\n  - name: default\n    sim: {seed: [1]}\n",
		"listen: \"127.0.0.1:70000\": the port must be a number from 0 to 65535":                    "listen: 127.0.0.1:70000\n",
		`pools[0].stock.target: "2.5" must be a whole number or auto`:                               "pools:\n  - name: default\n    stock: {target: 2.5}\n",
		"more than one YAML document":                                                               "listen: 127.0.0.1:9000\n---\nlisten: 127.0.0.1:9001\n",
		"set api.default_pool to one of one, two":                                                   "pools: [{name: one}, {name: two}]\n",
		"secrets.prefix": "secrets: {backend: secretsmanager, prefix: 'a b'}\npools: [{name: default}]\n",
		"ui.session_ttl: 1m0s must be between 5m and 168h": "ui: {session_ttl: 1m}\n",
		"ui.public_url": "ui: {public_url: 'https://ovm.example.com/ui'}\n",
		"ui.public_url: \"ftp://ovm.example.com\"":                    "ui: {public_url: 'ftp://ovm.example.com'}\n",
		"auth.oidc[0].console.client_secret: must name a vault entry": "auth:\n  oidc:\n    - {issuer: 'https://idp.example', audience: ovm, owner_claim: email, owner_prefix: 'idp:', console: {client_secret: plain}}\n",
		"auth.oidc[0].role_claim":                                     "auth:\n  oidc:\n    - {issuer: 'https://idp.example', audience: ovm, owner_claim: email, owner_prefix: 'idp:', role_claim: groups}\n",
		"pools[0].sim.bootstrap_failures: must not be negative":       "pools:\n  - name: default\n    sim: {bootstrap_failures: -1}\n",
	}
	for want, body := range cases {
		_, err := loadConfig(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: error %v, want one containing %q", body, err, want)
		}
	}
}

// signupPool is a valid signup pool; extra is added to its signup block.
func signupPool(extra string) string {
	return `pools:
  - name: default
    provider: signup
    signup:
      base_url: https://portal.example
      email_template: "root+{id}@example.com"
      trusted_principal: arn:aws:iam::123456789012:root
      phone_numbers: ["+15550100"]
      inbox: {s3_bucket: mail}
` + extra
}

func TestSignupSolversAndChannelsAreCheckedAtStart(t *testing.T) {
	good := signupPool(`      captcha_solvers:
        - transcribe: {bucket: captcha}
        - twocaptcha: {url: "https://2captcha.example", key: "secret:twocaptcha"}
          for: [image]
        - command: [/bin/solve]
        - human: true
`)
	cfg, err := loadConfig(writeConfig(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Pools[0].Kind.(*setup.PoolConfig).Signup.CaptchaSolvers; len(s) != 4 || s[0].Transcribe.Bucket != "captcha" || s[1].TwoCaptcha.Key != "secret:twocaptcha" {
		t.Fatalf("solvers: %+v", s)
	}
	cases := map[string]string{
		"captcha_solvers[0]: set exactly one":      "      captcha_solvers: [{human: true, command: [x]}]\n",
		"captcha_solvers[0]: set exactly one of c": "      captcha_solvers: [{for: [audio]}]\n",
		"captcha_solvers[0].transcribe.bucket":     "      captcha_solvers: [{transcribe: {prefix: x/}}]\n",
		"captcha_solvers[0].twocaptcha.url":        "      captcha_solvers: [{twocaptcha: {url: 2captcha.com, key: k}}]\n",
		"captcha_solvers[0].twocaptcha.key":        "      captcha_solvers: [{twocaptcha: {url: \"https://x\"}}]\n",
		"captcha_solvers[0].for":                   "      captcha_solvers: [{human: true, for: [video]}]\n",
	}
	for want, extra := range cases {
		_, err := loadConfig(writeConfig(t, signupPool(extra)))
		if err == nil || !strings.Contains(err.Error(), "pools[0].signup."+want) {
			t.Errorf("%q: error %v, want one containing %q", extra, err, want)
		}
	}
	withIMAP := func(imap string) string {
		return strings.Replace(signupPool(""), "inbox: {s3_bucket: mail}", "inbox: {imap: "+imap+"}", 1)
	}
	if _, err := loadConfig(writeConfig(t, withIMAP("{address: \"mail.example.com:993\", username: ovm, password: \"secret:imap\"}"))); err != nil {
		t.Fatalf("IMAP inbox: %v", err)
	}
	withConnect := func(c string) string { return signupPool("      connect: " + c + "\n") }
	if _, err := loadConfig(writeConfig(t, withConnect("{instance_arn: \"arn:aws:connect:us-east-1:123456789012:instance/abc\", prompt_bucket: p}"))); err != nil {
		t.Fatalf("connect: %v", err)
	}
	cases = map[string]string{
		"connect.instance_arn":       withConnect("{instance_arn: abc, prompt_bucket: p}"),
		"connect.prompt_bucket":      withConnect("{instance_arn: \"arn:aws:connect:us-east-1:123456789012:instance/abc\"}"),
		"connect.answer_delay":       withConnect("{instance_arn: \"arn:aws:connect:us-east-1:123456789012:instance/abc\", prompt_bucket: p, answer_delay: 5m}"),
		"inbox: set exactly one":     strings.Replace(signupPool(""), "{s3_bucket: mail}", "{s3_bucket: mail, imap: {address: \"a:1\"}}", 1),
		"inbox.imap.address":         withIMAP("{address: mail.example.com, username: u, password: p}"),
		"inbox.imap.password":        withIMAP("{address: \"mail.example.com:993\", username: u}"),
		"inbox.imap.security: \"ssl": withIMAP("{address: \"mail.example.com:993\", username: u, password: p, security: ssl}"),
		"inbox.imap.security: none":  withIMAP("{address: \"mail.example.com:143\", username: u, password: p, security: none}"),
	}
	for want, body := range cases {
		_, err := loadConfig(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), "pools[0].signup."+want) {
			t.Errorf("%q: error %v, want one containing %q", body, err, want)
		}
	}
}

// The configuration examples in the docs are valid configurations.
func TestTheDocsExamplesAreValidConfigs(t *testing.T) {
	md, err := os.ReadFile("../../docs/signup.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	for _, part := range strings.Split(string(md), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		if !strings.Contains(body, "pools:") {
			continue
		}
		blocks++
		// The operator's flow file exists on their machine, not here.
		body = regexp.MustCompile(`(?m)^\s*flow_file:.*\n`).ReplaceAllString(body, "")
		if _, err := loadConfig(writeConfig(t, body)); err != nil {
			t.Errorf("docs/signup.md example: %v", err)
		}
	}
	if blocks == 0 {
		t.Fatal("no example found in docs/signup.md")
	}
	examples, _ := filepath.Glob("../../docs/examples/*.yaml")
	for _, f := range examples {
		if _, err := loadConfig(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestAPartialFileIsLaidOverTheEmbeddedDefault(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, "listen: 127.0.0.1:9999\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9999" || len(cfg.Pools) != 1 || cfg.Pools[0].Name != "default" || cfg.API.DefaultPool != "default" ||
		simOf(cfg.Pools[0]).CreateLatency != 3*time.Second || cfg.Pools[0].Policy().Stock.Target != embeddedTarget {
		t.Fatalf("partial file gave %+v", cfg)
	}
	cfg, err = loadConfig(writeConfig(t, "pools: [{name: only}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.DefaultPool != "only" {
		t.Fatalf("the only pool is not GET /vend's pool: %q", cfg.API.DefaultPool)
	}
}

func TestTheProviderKindChoosesStockPacing(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, signupPool("")+"  - name: orgs\n    provider: organizations\n    organizations: {email_template: \"a+{id}@example.com\", max_in_flight: 2}\n"+
		"  - name: sim\n    sim: {max_in_flight: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	su, orgs, sm := cfg.Pools[0].Policy().Stock, cfg.Pools[1].Policy().Stock, cfg.Pools[2].Policy().Stock
	if su.MaxInFlight != 1 || su.MinSpacing != 2*time.Hour {
		t.Errorf("signup pacing %+v, want one at a time, 2h apart", su)
	}
	if orgs.MaxInFlight != 2 || orgs.MinSpacing != 0 {
		t.Errorf("organizations pacing %+v, want organizations.max_in_flight 2", orgs)
	}
	if sm.MaxInFlight != 3 {
		t.Errorf("sim pacing %+v, want sim.max_in_flight 3", sm)
	}
	if lp := cfg.Pools[2].Policy().Lease; lp.MaxPerOwner != 10 {
		t.Errorf("max_per_owner default %d, want half the ceiling of 20", lp.MaxPerOwner)
	}
	_, err = loadConfig(writeConfig(t, "pools:\n  - name: orgs\n    provider: organizations\n    stock: {max_in_flight: 8}\n    organizations: {email_template: \"a+{id}@example.com\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "pools[0].stock.max_in_flight: 8 is above the provider's cap of 5") {
		t.Errorf("organizations pool above AWS's 5 creations: %v", err)
	}
}

func TestABadListenPortFailsBeforeTheAdminKeyIsWritten(t *testing.T) {
	for _, args := range [][]string{
		{"--config", writeConfig(t, "listen: 127.0.0.1:70000\n")},
		{"--listen", "127.0.0.1:99999"},
	} {
		dir := t.TempDir()
		var out, errOut strings.Builder
		code := run(append([]string{"serve", "--data", dir}, args...), &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), "65535") {
			t.Errorf("serve %v: exit %d, stderr %q", args, code, errOut.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "admin.key")); !os.IsNotExist(err) {
			t.Errorf("serve %v wrote admin.key before failing (%v)", args, err)
		}
	}
}

// docs/config.md documents every key of the stock, access, api and
// retention blocks.
func TestTheStockAndAccessKeysAreDocumented(t *testing.T) {
	checkDocumented(t, typeOf[StockConfig](), typeOf[federation.Config](), typeOf[APIConfig](), typeOf[RetentionConfig]())
}

// checkDocumented fails t for each YAML key of types that docs/config.md
// does not name (as " key:").
func checkDocumented(t *testing.T, types ...reflect.Type) {
	t.Helper()
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range types {
		for key := range yamlFields(typ) {
			if !strings.Contains(string(doc), " "+key+":") {
				t.Errorf("docs/config.md: %s key %s is not documented", typ.Name(), key)
			}
		}
	}
}
