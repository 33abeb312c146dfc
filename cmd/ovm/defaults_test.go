package main

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// documentedKeys are the blocks whose defaults docs/config.md writes and
// the packages own (the engine, the API, the console, the access block,
// the pool's policy): a default written in the docs must be the code's.
// Provider blocks (sim:, organizations:, signup:) are each kind's, checked
// by its own tests; auto-only stock keys, names and examples are not
// defaults.
var documentedKeys = []string{"listen", "data_dir", "store", "log_level", "log_format", "shutdown_timeout", "aws.region",
	"dynamodb.", "api.", "retention.", "ui.disabled", "ui.session_ttl", "ui.public_url", "access.", "notifications.expiring_lead",
	"notifications.retry.", "engine.", "pools[0].role_name", "pools[0].stock.ceiling", "pools[0].stock.max_in_flight",
	"pools[0].stock.min_spacing", "pools[0].lease.", "pools[0].retire.", "pools[0].retry."}

// notDefaults are documented keys whose value in the reference is not a
// default (an instance's name depends on the host).
var notDefaults = map[string]bool{"engine.instance": true}

// TestEveryDocumentedDefaultIsTheCodes reads the reference of docs/config.md
// and, for every key of documentedKeys it gives a value, loads a
// configuration that sets only that key to that value: what OVM then runs
// with (Config.resolved) must be what it runs with when the key is left
// out. A default that the docs and the code state differently, or that two
// layers set differently, fails here, naming the key.
func TestEveryDocumentedDefaultIsTheCodes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(doc), "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(block), &root); err != nil {
		t.Fatalf("docs/config.md's reference is not YAML: %v", err)
	}
	// A pool's key is compared within a configured pool: the embedded
	// default's own pool keeps a larger stock (embeddedTarget).
	base, poolBase := resolvedOf(t, ""), resolvedOf(t, "pools: [{name: default}]\n")
	checked := 0
	walkDocumented(root.Content[0], "", func(path string, value *yaml.Node) {
		if notDefaults[path] || !wanted(path) {
			return
		}
		checked++
		base := base
		if strings.HasPrefix(path, "pools[0].") {
			base = poolBase
		}
		got := resolvedOf(t, setting(path, value))
		if got != base {
			t.Errorf("docs/config.md gives %s the default %q, but setting it changes what OVM runs with:\n%s", path, value.Value,
				firstDifference(base, got))
		}
	})
	if checked < 40 {
		t.Fatalf("only %d documented defaults checked", checked)
	}
	t.Logf("%d documented defaults are the code's", checked)
}

func wanted(path string) bool {
	for _, k := range documentedKeys {
		if path == k || strings.HasSuffix(k, ".") && strings.HasPrefix(path, k) {
			return true
		}
	}
	return false
}

// walkDocumented calls fn with the path of every scalar of the reference
// (pools: its first item only).
func walkDocumented(n *yaml.Node, path string, fn func(string, *yaml.Node)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, v := n.Content[i].Value, n.Content[i+1]
			p := key
			if path != "" {
				p = path + "." + key
			}
			if key == "pools" && v.Kind == yaml.SequenceNode && len(v.Content) > 0 {
				walkDocumented(v.Content[0], "pools[0]", fn)
				continue
			}
			walkDocumented(v, p, fn)
		}
	case yaml.ScalarNode:
		fn(path, n)
	}
}

// setting is a configuration file that sets path to value and nothing else
// (a pool's key: in the default pool).
func setting(path string, value *yaml.Node) string {
	var keys []string
	pool := false
	if rest, ok := strings.CutPrefix(path, "pools[0]."); ok {
		pool, keys = true, strings.Split(rest, ".")
	} else {
		keys = strings.Split(path, ".")
	}
	leaf := &yaml.Node{Kind: yaml.ScalarNode, Tag: value.Tag, Value: value.Value, Style: value.Style}
	for i := len(keys) - 1; i >= 0; i-- {
		leaf = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: keys[i]}, leaf}}
	}
	if pool {
		leaf.Content = append([]*yaml.Node{{Kind: yaml.ScalarNode, Value: "name"}, {Kind: yaml.ScalarNode, Value: "default"}}, leaf.Content...)
		leaf = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "pools"},
			{Kind: yaml.SequenceNode, Content: []*yaml.Node{leaf}}}}
	}
	b, _ := yaml.Marshal(leaf)
	return string(b)
}

// resolvedOf loads file (YAML; "" for none) and returns what OVM runs with,
// as YAML.
func resolvedOf(t *testing.T, file string) string {
	t.Helper()
	cfg := defaultConfig()
	if file != "" {
		if err := parseConfig([]byte(file), &cfg); err != nil {
			t.Fatalf("%s: %v", strings.TrimSpace(file), err)
		}
	}
	if err := cfg.validate(); err != nil {
		t.Fatalf("%s: %v", strings.TrimSpace(file), err)
	}
	b, err := yaml.Marshal(cfg.resolved())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return "  without it: " + al[i] + "\n  with it:    " + bl[i]
		}
	}
	return "  (lengths differ)"
}

// The three configurations that issue 21 found refused at start although
// the domain's own defaults accept them: each bound set alone, the others
// follow it.
func TestOneBoundSetAloneStarts(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"pools: [{name: default, lease: {default_ttl: 100h}}]\n", "max_ttl: 100h0m0s"},
		{"pools: [{name: default, lease: {default_ttl: 30s}}]\n", "min_ttl: 30s"},
		{"engine: {claim_ttl: 1m}\n", "claim_ttl: 1m0s"},
	} {
		if got := resolvedOf(t, c.file); !strings.Contains(got, c.want) {
			t.Errorf("%s: runs with\n%s\nwant %s in it", strings.TrimSpace(c.file), got, c.want)
		}
	}
}
