package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm/client"
)

// ovmAs runs a client command with key.
func (s *server) ovmAs(key string, args ...string) (string, error) {
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(os.Environ(), "OVM_URL="+s.url, "OVM_TOKEN="+key)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String() + errb.String(), err
}

// The real binary with a templates: block: a team's key sees and leases
// its template from the CLI, another key is refused naming it, and
// GET /vend still leases from the default pool's own template.
func TestTheCLILeasesUnderATemplateForItsTeam(t *testing.T) {
	s := newServer(t, fastConfig+`templates:
  - name: sandbox-small
    description: "one hour, platform only"
    pool: default
    lease: {default_ttl: 30m, max_per_owner: 1}
    allowed: ["team:platform"]
`)
	s.start()
	var k client.Key
	s.ovmJSON(&k, "key", "create", "pat", "--team", "platform")
	if strings.Join(k.Teams, ",") != "platform" || k.Key == "" {
		t.Fatalf("key %+v", k)
	}
	var other client.Key
	s.ovmJSON(&other, "key", "create", "olive")
	out, err := s.ovmAs(k.Key, "template", "list")
	if err != nil || !strings.Contains(out, "sandbox-small") || !strings.Contains(out, "one hour, platform only") {
		t.Fatalf("ovm template list as pat: %v\n%s", err, out)
	}
	if out, _ := s.ovmAs(other.Key, "template", "list"); strings.Contains(out, "sandbox-small") {
		t.Fatalf("olive, in no team, sees the template:\n%s", out)
	}
	out, err = s.ovmAs(k.Key, "lease", "create", "--template", "sandbox-small", "--wait", "20s", "--output", "json")
	if err != nil || !strings.Contains(out, `"template": "sandbox-small"`) || !strings.Contains(out, `"team": "platform"`) {
		t.Fatalf("ovm lease create --template as pat: %v\n%s", err, out)
	}
	out, err = s.ovmAs(other.Key, "lease", "create", "--template", "sandbox-small")
	if err == nil || !strings.Contains(out, `template "sandbox-small" is not open to olive`) {
		t.Fatalf("olive's lease of the template: %v\n%s", err, out)
	}
	if a := s.do("GET", "/vend", other.Key, ""); a.status != 200 || strings.Contains(string(a.body), "template") {
		t.Fatalf("GET /vend: %d %s", a.status, a.body)
	}
}

// The real binary on the simulated AWS: a lease of a guarded template
// answers once the guardrails are on its account, and its account says so.
func TestAGuardedTemplateLeasesWithItsGuardrailsInPlace(t *testing.T) {
	s := newServer(t, fastConfig+`templates:
  - name: eu-only
    pool: default
    guardrails: {regions: [eu-west-1], deny_actions: ["savingsplans:*"]}
`)
	s.start()
	a := s.do("POST", "/v1/leases", s.key, `{"template":"eu-only","wait":"20s"}`)
	var l client.Lease
	if err := json.Unmarshal(a.body, &l); a.status != 201 || err != nil || l.Terms == nil || l.Terms.GuardrailVersion == "" {
		t.Fatalf("POST /v1/leases: %d %s", a.status, a.body)
	}
	var acc client.Account
	s.ovmJSON(&acc, "account", "get", l.OVMAccountID)
	if acc.Progress["access.guarded"] != l.Terms.GuardrailVersion || acc.Progress["access.guard_template"] != "eu-only" {
		t.Fatalf("the account's progress %v, want the guardrails %s in place", acc.Progress, l.Terms.GuardrailVersion)
	}
	// The pool's own template is open to everyone: a start warning says
	// that its leases skip eu-only's guardrails.
	eventually(t, 10*time.Second, "a warning that pool default's own template skips eu-only's guardrails", func() bool {
		log := s.stderr.String()
		return strings.Contains(log, "level=WARN") && strings.Contains(log, `skip template \"eu-only\"'s guardrails`)
	})
}

// A pool's own template restricted by its lease.allowed: only its teams
// lease from the pool directly.
func TestAPoolsOwnTemplateIsForWhomItsLeaseBlockAllows(t *testing.T) {
	s := newServer(t, strings.Replace(fastConfig, "max_per_owner: 6}", "max_per_owner: 6, allowed: [\"team:ops\"]}", 1))
	s.start()
	var k client.Key
	s.ovmJSON(&k, "key", "create", "dev")
	if a := s.do("POST", "/v1/leases", k.Key, `{}`); a.status != 403 || !strings.Contains(string(a.body), `template \"default\" is not open to dev`) {
		t.Fatalf("a key outside the pool's allowed: %d %s", a.status, a.body)
	}
	var ops client.Key
	s.ovmJSON(&ops, "key", "create", "op", "--team", "ops")
	if a := s.do("POST", "/v1/leases", ops.Key, `{"wait":"20s"}`); a.status != 201 {
		t.Fatalf("a key of team ops: %d %s", a.status, a.body)
	}
}
