package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm/identity"
	"github.com/ovmdev/ovm/identity/identitytest"
)

// authBlock is an auth: block of one issuer; extra lines go under it.
func authBlock(issuer, extra string) string {
	return "auth:\n  oidc:\n    - issuer: " + issuer + "\n      audience: https://ovm.example\n      owner_claim: repository\n" + extra
}

func TestABadAuthBlockFailsServeNamingTheKey(t *testing.T) {
	cases := map[string]string{
		`auth.oidc[0].issuer: "http://issuer.example" must be https`:                                         authBlock("http://issuer.example", ""),
		`auth.oidc[0].audience: must not be empty`:                                                           "auth:\n  oidc:\n    - {issuer: https://issuer.example, owner_claim: sub}\n",
		`auth.oidc[0].owner_claim: must name the claim`:                                                      "auth:\n  oidc:\n    - {issuer: https://issuer.example, audience: x}\n",
		`auth.oidc[0].role: "owner" must be user or admin`:                                                   authBlock("https://issuer.example", "      role: owner\n"),
		`auth.oidc[0].require: must name at least one claim for https://token.actions.githubusercontent.com`: authBlock("https://token.actions.githubusercontent.com", ""),
		`auth.oidc[1].issuer: "https://issuer.example" is configured twice`:                                  authBlock("https://issuer.example", "    - {issuer: https://issuer.example, audience: y, owner_claim: sub}\n"),
		`auth.oidc[0].isuer: unknown key`:                                                                    "auth:\n  oidc:\n    - {isuer: https://issuer.example}\n",
		`auth.oidc[0].require.repository_owner: must be a single value, not a list`:                          authBlock("https://issuer.example", "      require: {repository_owner: [a, b]}\n"),
		`auth.oidc: must be a list`:                                                                          "auth:\n  oidc: {issuer: https://issuer.example}\n",
	}
	for want, body := range cases {
		dir := t.TempDir()
		var out, errOut strings.Builder
		code := run([]string{"serve", "--data", dir, "--listen", "127.0.0.1:0", "--config", writeConfig(t, body)}, &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), want) {
			t.Errorf("config %q: exit %d, stderr %q, want %q", body, code, errOut.String(), want)
		}
		if _, err := os.Stat(filepath.Join(dir, "admin.key")); !os.IsNotExist(err) {
			t.Errorf("config %q: serve started (%v)", body, err)
		}
	}
}

func TestTheAuthBlockParses(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, authBlock("https://token.actions.githubusercontent.com",
		"      require: {repository_owner: my-org, ref: refs/heads/main}\n      role: admin\n      owner_prefix: \"gh:\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	ic := cfg.Auth.OIDC[0]
	if len(cfg.Auth.OIDC) != 1 || ic.Audience != "https://ovm.example" || ic.OwnerClaim != "repository" || ic.Role != "admin" ||
		ic.OwnerPrefix != "gh:" || ic.Require["repository_owner"] != "my-org" || ic.Require["ref"] != "refs/heads/main" {
		t.Fatalf("parsed %+v", cfg.Auth)
	}
}

func TestTheOIDCDocsExampleIsValidAndEveryKeyIsDocumented(t *testing.T) {
	md, err := os.ReadFile("../../docs/oidc.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := 0
	for _, part := range strings.Split(string(md), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		if !strings.HasPrefix(body, "auth:") {
			continue // a CI's workflow, not OVM's configuration
		}
		examples++
		if _, err := loadConfig(writeConfig(t, body)); err != nil {
			t.Errorf("docs/oidc.md example: %v", err)
		}
	}
	if examples == 0 {
		t.Fatal("no auth: example in docs/oidc.md")
	}
	for key := range yamlFields(typeOf[identity.IssuerConfig]()) {
		if !strings.Contains(string(md), "| `"+key+"` |") {
			t.Errorf("docs/oidc.md: no row for auth.oidc[].%s", key)
		}
	}
	checkDocumented(t, typeOf[identity.IssuerConfig]())
}

// The real binary, started while its issuer is down (discovery waits for
// the first token), and a CI job's token: it leases in the name of its
// repository.
func TestACIJobLeasesWithItsOIDCToken(t *testing.T) {
	issuer := identitytest.New(t)
	issuer.SetDown(true)
	s := newServer(t, fastConfig+authBlock(issuer.URL, "      require: {repository_owner: my-org}\n"))
	s.start()
	if n := issuer.Discoveries.Load(); n != 0 {
		t.Fatalf("%d discoveries at start, want none before the first token", n)
	}
	issuer.SetDown(false)
	claims := issuer.Claims("https://ovm.example", time.Now())
	a := s.do("POST", "/v1/leases", issuer.Sign(nil, claims), `{"wait":"20s"}`)
	var l struct{ Owner string }
	if err := json.Unmarshal(a.body, &l); a.status != 201 || err != nil || l.Owner != "my-org/app" {
		t.Fatalf("POST /v1/leases: %d %s, want 201 owned by my-org/app", a.status, a.body)
	}
	claims["repository_owner"] = "someone-else"
	if a := s.do("GET", "/v1/leases", issuer.Sign(nil, claims), ""); a.status != 401 {
		t.Fatalf("another organisation's token: %d %s", a.status, a.body)
	}
}

func TestOIDCRepositoryOwnerWithoutAPrefixIsWarnedWhenServeStarts(t *testing.T) {
	s := newServer(t, "auth:\n  oidc:\n    - issuer: https://token.actions.githubusercontent.com\n      audience: https://ovm.example\n"+
		"      owner_claim: repository_owner\n      require: {repository_owner: my-org}\n")
	s.start()
	// The log reaches the buffer through a pipe: it may trail the readiness.
	eventually(t, 10*time.Second, "a warning at start naming auth.oidc[0].owner_claim", func() bool {
		log := s.stderr.String()
		return strings.Contains(log, "level=WARN") && strings.Contains(log, "config_key=auth.oidc[0].owner_claim") &&
			strings.Contains(log, "repository_owner without owner_prefix")
	})
}
