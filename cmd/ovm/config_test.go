package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ovm.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNoConfigGivesTheEmbeddedDefault(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools[0]
	if cfg.Listen != "127.0.0.1:8080" || cfg.DataDir != "./ovm-data" || len(cfg.Pools) != 1 || p.Name != "default" ||
		p.Provider != "sim" || p.Stock.Target != 3 || p.policy().Lease.DefaultTTL != 24*time.Hour {
		t.Fatalf("default config %+v", cfg)
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
	p := cfg.Pools[0].policy()
	if cfg.Listen != "127.0.0.1:9090" || p.Stock.Target != 2 || p.Stock.MinSpacing != 10*time.Second || p.Lease.MinTTL != time.Second ||
		p.Retire.MaxGenerations != 3 || cfg.Pools[0].Sim.FailureRate != 0.3 || cfg.Pools[0].Sim.BootstrapLatency.D() != 2*time.Second {
		t.Fatalf("parsed %+v", cfg.Pools[0])
	}
	if o := cfg.Pools[1]; o.Provider != "sim" || o.Stock.Target != 3 {
		t.Fatalf("second pool did not get defaults: %+v", o)
	}
}

func TestABadConfigFailsNamingTheKey(t *testing.T) {
	cases := map[string]string{
		"pools[0].stock.targett: unknown key": "pools:\n  - name: default\n    stock: {targett: 3}\n",
		"lease_ttl: unknown key":              "lease_ttl: 1h\npools: [{name: default}]\n",
		"pools[0].stock.ceiling":              "pools:\n  - name: default\n    stock: {target: 5, ceiling: 2}\n",
		"pools[0].lease.max_ttl":              "pools:\n  - name: default\n    lease: {default_ttl: 100h}\n",
		"is not a duration":                   "pools:\n  - name: default\n    lease: {max_ttl: 3 days}\n",
		"pools[0].retire.mode":                "pools:\n  - name: default\n    retire: {mode: burn}\n",
		"pools[0].provider":                   "pools:\n  - name: default\n    provider: azure\n",
		"pools[1].name":                       "pools: [{name: default}, {name: default}]\n",
		"api.default_pool":                    "pools: [{name: other}]\n",
		"listen":                              "listen: nope\npools: [{name: default}]\n",
		"pools[0].sim.failure_rate":           "pools:\n  - name: default\n    sim: {failure_rate: 2}\n",
		"invalid yaml":                        "pools: [\n",
		"pools[0].name":                       "pools: [{name: 'Bad Name'}]\n",
		"store":                               "store: postgres\npools: [{name: default}]\n",
		"pools[0].stock: must be a mapping":   "pools:\n  - name: default\n    stock: 3\n",
		"cannot unmarshal":                    "pools:\n  - name: default\n    stock: {target: many}\n",
		"secrets.backend":                     "secrets: {backend: vault}\npools: [{name: default}]\n",
		"secrets.file":                        "secrets: {backend: secretsmanager, file: x}\npools: [{name: default}]\n",
		"secrets.prefix":                      "secrets: {backend: secretsmanager, prefix: 'a b'}\npools: [{name: default}]\n",
	}
	for want, body := range cases {
		_, err := loadConfig(writeConfig(t, body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config %q: error %v, want one containing %q", body, err, want)
		}
	}
}
