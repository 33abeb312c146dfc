package main

// The GitHub Action (action.yml, action/*.cjs), run as a runner runs it:
// its scripts under node with INPUT_* variables, the runner's files
// (GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STATE) in a temp dir, and a stand-in
// for the runner's ID token endpoint, against the real `ovm serve` with a
// loopback OIDC issuer.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/identity/identitytest"
	"github.com/ovmdev/ovm/internal/testtool"
)

const actionDir = "../.."

// actionMeta is the part of action.yml a runner reads.
type actionMeta struct {
	Name        string
	Description string
	Inputs      map[string]struct {
		Description string
		Required    bool
		Default     *string
	}
	Outputs map[string]struct{ Description string }
	Runs    struct {
		Using  string
		Main   string
		Post   string
		PostIf string `yaml:"post-if"`
	}
}

func readActionMeta(t *testing.T) actionMeta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(actionDir, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var m actionMeta
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	return m
}

// tokenEndpoint stands in for the runner's ID token endpoint
// (ACTIONS_ID_TOKEN_REQUEST_URL): it checks the request token and answers
// {"value": sign(audience)}. It records the audiences asked for and the
// tokens given out.
type tokenEndpoint struct {
	url, requestToken string
	mu                sync.Mutex
	audiences, tokens []string
	failures          []string
}

func newTokenEndpoint(t *testing.T, sign func(audience string) string) *tokenEndpoint {
	te := &tokenEndpoint{requestToken: "runner-request-token-7f3a"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		te.mu.Lock()
		defer te.mu.Unlock()
		scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "bearer") || tok != te.requestToken {
			te.failures = append(te.failures, "Authorization "+r.Header.Get("Authorization"))
			http.Error(w, "bad request token", http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("api-version") != "2.0" {
			te.failures = append(te.failures, "the query of ACTIONS_ID_TOKEN_REQUEST_URL was lost: "+r.URL.RawQuery)
		}
		aud := r.URL.Query().Get("audience")
		te.audiences = append(te.audiences, aud)
		tok = sign(aud)
		te.tokens = append(te.tokens, tok)
		json.NewEncoder(w).Encode(map[string]string{"value": tok})
	}))
	t.Cleanup(srv.Close)
	// GitHub's URL carries a query of its own; the audience is added to it.
	te.url = srv.URL + "/token?api-version=2.0"
	return te
}

// env is what a runner gives a job that has id-token: write.
func (te *tokenEndpoint) env() []string {
	return []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + te.url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + te.requestToken}
}

func (te *tokenEndpoint) seen(t *testing.T) (audiences, tokens []string) {
	t.Helper()
	te.mu.Lock()
	defer te.mu.Unlock()
	if len(te.failures) > 0 {
		t.Errorf("token endpoint: %q", te.failures)
	}
	return slices.Clone(te.audiences), slices.Clone(te.tokens)
}

// stepRun is one run of a step script and the runner files it wrote.
type stepRun struct {
	err            error
	stdout, stderr string
	env, outputs   map[string]string
	state          map[string]string
}

// masked are the values the step announced with ::add-mask::.
func (r stepRun) masked() []string {
	var out []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "::add-mask::"); ok {
			out = append(out, v)
		}
	}
	return out
}

// shown is what the log shows besides the ::add-mask:: commands.
func (r stepRun) shown() string {
	var b strings.Builder
	for _, line := range strings.Split(r.stdout+"\n"+r.stderr, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func (r stepRun) errorLine() string {
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "::error::") {
			return line
		}
	}
	return ""
}

// runStep runs action/<script> with node as a runner does: action.yml's
// defaults filled in for inputs not given, INPUT_<NAME> variables, fresh
// runner files, state as STATE_<name>, and nothing else of this process's
// environment but PATH (a test run inside a real GitHub job must not see
// its ACTIONS_* variables).
func runStep(t *testing.T, script string, inputs map[string]string, state map[string]string, env ...string) stepRun {
	t.Helper()
	node := testtool.Require(t, "node", "install Node.js 20 or later (apt-get install nodejs)")
	dir := t.TempDir()
	files := map[string]string{}
	for _, f := range []string{"GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STATE"} {
		files[f] = filepath.Join(dir, strings.ToLower(f))
		if err := os.WriteFile(files[f], nil, 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, f+"="+files[f])
	}
	for name, in := range readActionMeta(t).Inputs {
		if _, given := inputs[name]; !given && in.Default != nil {
			env = append(env, inputVar(name)+"="+*in.Default)
		}
	}
	for name, v := range inputs {
		env = append(env, inputVar(name)+"="+v)
	}
	for name, v := range state {
		env = append(env, "STATE_"+name+"="+v)
	}
	cmd := exec.Command(node, filepath.Join(actionDir, "action", script))
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	r := stepRun{err: cmd.Run(), stdout: out.String(), stderr: errb.String()}
	r.env = readFileCommands(t, files["GITHUB_ENV"])
	r.outputs = readFileCommands(t, files["GITHUB_OUTPUT"])
	r.state = readFileCommands(t, files["GITHUB_STATE"])
	return r
}

// inputVar is the variable a runner passes input name in.
func inputVar(name string) string {
	return "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
}

// readFileCommands reads a runner file the way the runner does: name=value
// lines, or name<<DELIMITER, the value's lines, DELIMITER. Anything else
// fails the test, as it would fail the step.
func readFileCommands(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		eq, heredoc := strings.Index(line, "="), strings.Index(line, "<<")
		switch {
		case eq > 0 && (heredoc < 0 || eq < heredoc):
			out[line[:eq]] = line[eq+1:]
		case heredoc > 0:
			name, delim := line[:heredoc], line[heredoc+2:]
			var value []string
			for {
				if !sc.Scan() {
					t.Fatalf("%s: %s: no closing %s", filepath.Base(path), name, delim)
				}
				if sc.Text() == delim {
					break
				}
				value = append(value, sc.Text())
			}
			out[name] = strings.Join(value, "\n")
		default:
			t.Fatalf("%s: invalid line %q", filepath.Base(path), line)
		}
	}
	return out
}

// actionServer is `ovm serve` on the sim provider, with the loopback issuer
// as its one OIDC issuer (audience https://ovm.example, owner: the
// repository claim, only my-org's repositories), and a second pool,
// empty, that keeps no stock.
func actionServer(t *testing.T) (*server, *identitytest.Issuer) {
	testtool.Require(t, "node", "install Node.js 20 or later (apt-get install nodejs)")
	issuer := identitytest.New(t)
	s := newServer(t, fastConfig+"  - name: empty\n    stock: {target: 0}\n"+
		authBlock(issuer.URL, "      require: {repository_owner: my-org}\n"))
	s.start()
	return s, issuer
}

func (s *server) lease(id string) client.Lease {
	s.t.Helper()
	a := s.do("GET", "/v1/leases/"+id, s.key, "")
	var l client.Lease
	if err := json.Unmarshal(a.body, &l); a.status != 200 || err != nil {
		s.t.Fatalf("GET /v1/leases/%s: %d %s", id, a.status, a.body)
	}
	return l
}

func (s *server) leases() []client.Lease {
	s.t.Helper()
	a := s.do("GET", "/v1/leases", s.key, "")
	var page client.Page[client.Lease]
	if err := json.Unmarshal(a.body, &page); a.status != 200 || err != nil {
		s.t.Fatalf("GET /v1/leases: %d %s", a.status, a.body)
	}
	return page.Items
}

var accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)

func TestTheGitHubActionLeasesWithTheJobsTokenAndReleasesInItsPostStep(t *testing.T) {
	s, issuer := actionServer(t)
	te := newTokenEndpoint(t, func(aud string) string { return issuer.Sign(nil, issuer.Claims(aud, time.Now())) })
	inputs := map[string]string{"url": s.url, "audience": "https://ovm.example", "wait": "20s", "ttl": "90m",
		"labels": "team=platform\n\n  run = 42\n"}

	mainStep := runStep(t, "main.cjs", inputs, nil, te.env()...)
	if mainStep.err != nil {
		t.Fatalf("main: %v\n%s%s", mainStep.err, mainStep.stdout, mainStep.stderr)
	}
	audiences, tokens := te.seen(t)
	if !slices.Equal(audiences, []string{"https://ovm.example"}) {
		t.Fatalf("the runner was asked for tokens with audiences %q, want one for https://ovm.example", audiences)
	}

	// The job's environment: the credentials and the lease, as a runner
	// would set them for the later steps.
	var names []string
	for k := range mainStep.env {
		names = append(names, k)
	}
	sort.Strings(names)
	want := []string{"AWS_ACCESS_KEY_ID", "AWS_CREDENTIAL_EXPIRATION", "AWS_DEFAULT_REGION", "AWS_REGION",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "OVM_ACCOUNT_ID", "OVM_LEASE_ID"}
	if !slices.Equal(names, want) {
		t.Fatalf("GITHUB_ENV sets %q, want %q", names, want)
	}
	env, out := mainStep.env, mainStep.outputs
	if !strings.HasPrefix(env["AWS_ACCESS_KEY_ID"], "ASIASIM") || env["AWS_SECRET_ACCESS_KEY"] == "" || env["AWS_SESSION_TOKEN"] == "" {
		t.Fatalf("not the sim's credentials: key id %q", env["AWS_ACCESS_KEY_ID"])
	}
	if env["AWS_REGION"] != "us-east-1" || env["AWS_DEFAULT_REGION"] != "us-east-1" {
		t.Errorf("regions %q and %q, want us-east-1", env["AWS_REGION"], env["AWS_DEFAULT_REGION"])
	}
	if _, err := time.Parse(time.RFC3339, env["AWS_CREDENTIAL_EXPIRATION"]); err != nil {
		t.Errorf("AWS_CREDENTIAL_EXPIRATION: %v", err)
	}

	// The lease: made in the token's owner's name, with the inputs.
	l := s.lease(out["lease-id"])
	if l.Owner != "my-org/app" || l.State != "active" || l.Labels["team"] != "platform" || l.Labels["run"] != "42" || len(l.Labels) != 2 {
		t.Fatalf("lease %+v, want an active lease of my-org/app labelled team=platform, run=42", l)
	}
	if ttl := l.ExpiresAt.Sub(l.CreatedAt); ttl != 90*time.Minute {
		t.Errorf("the lease lasts %s, want the ttl input, 1h30m", ttl)
	}
	wantOut := map[string]string{"lease-id": l.ID, "account-id": l.AccountID, "role-arn": l.CrossAccountRole,
		"expires-at": l.ExpiresAt.Format(time.RFC3339Nano)}
	if fmt.Sprint(out) != fmt.Sprint(wantOut) || !accountIDRe.MatchString(l.AccountID) || l.CrossAccountRole == "" {
		t.Fatalf("GITHUB_OUTPUT %q, want %q", out, wantOut)
	}
	if env["OVM_LEASE_ID"] != l.ID || env["OVM_ACCOUNT_ID"] != l.AccountID {
		t.Errorf("OVM_LEASE_ID %q, OVM_ACCOUNT_ID %q, want the lease's", env["OVM_LEASE_ID"], env["OVM_ACCOUNT_ID"])
	}

	// Every secret is masked, and the log shows none of them.
	secrets := map[string]string{"the ID token": tokens[0], "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
		"AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"], "AWS_SESSION_TOKEN": env["AWS_SESSION_TOKEN"],
		"the runner's request token": te.requestToken}
	for what, v := range secrets {
		if what != "the runner's request token" && !slices.Contains(mainStep.masked(), v) {
			t.Errorf("%s is not masked (::add-mask::)", what)
		}
		if strings.Contains(mainStep.shown(), v) {
			t.Errorf("the log shows %s:\n%s", what, mainStep.shown())
		}
	}
	if !strings.Contains(mainStep.stdout, "::notice::ovm: these credentials are simulated") {
		t.Errorf("no notice that the credentials are simulated:\n%s", mainStep.stdout)
	}

	// The post step, with the state the main step saved: the lease is
	// released, with a fresh token.
	if mainStep.state[`lease_id`] != l.ID {
		t.Fatalf("GITHUB_STATE %q, want the lease id for the post step", mainStep.state)
	}
	post := runStep(t, "post.cjs", inputs, mainStep.state, te.env()...)
	if post.err != nil {
		t.Fatalf("post: %v\n%s%s", post.err, post.stdout, post.stderr)
	}
	if l := s.lease(l.ID); l.State != "ended" || l.EndReason != "released" {
		t.Fatalf("after the post step the lease is %s (%s), want ended (released)", l.State, l.EndReason)
	}
	audiences, tokens = te.seen(t)
	if len(tokens) != 2 || audiences[1] != "https://ovm.example" {
		t.Errorf("the post step asked for %q, want a second token for https://ovm.example", audiences)
	}
	if strings.Contains(post.shown(), tokens[1]) || !slices.Contains(post.masked(), tokens[1]) {
		t.Errorf("the post step's token is shown or not masked:\n%s", post.stdout)
	}

	// A post step after the lease has ended (released by a failed main
	// step, expired, revoked) has nothing to do and says so.
	again := runStep(t, "post.cjs", inputs, mainStep.state, te.env()...)
	if again.err != nil || !strings.Contains(again.stdout, "had already ended (released)") {
		t.Fatalf("post again: %v\n%s", again.err, again.stdout)
	}
}

// A token the server refuses, or a lease it cannot give, fails the step
// with the server's reason, and nothing is leased or exported.
func TestTheGitHubActionFailsWithTheServersReason(t *testing.T) {
	s, issuer := actionServer(t)
	rogue := issuer.NewKey("rogue", "RS256")
	cases := []struct {
		name   string
		inputs map[string]string
		sign   func(aud string) string
		noPerm bool
		// wantAudience is the audience the runner must be asked for.
		wantAudience string
		want         string
	}{
		{
			name:   "a token signed with a key the issuer never published",
			inputs: map[string]string{"audience": "https://ovm.example"},
			sign: func(aud string) string {
				return issuer.Sign(rogue, issuer.Claims(aud, time.Now()))
			},
			wantAudience: "https://ovm.example",
			want:         "::error::ovm: POST /v1/leases: 401 unauthorized: token signature does not verify with the published keys of issuer",
		},
		{
			name:         "a token for the default audience, the url, which is not the server's audience",
			inputs:       map[string]string{},
			sign:         func(aud string) string { return issuer.Sign(nil, issuer.Claims(aud, time.Now())) },
			wantAudience: "(the url)",
			want:         `::error::ovm: POST /v1/leases: 401 unauthorized: token audience is not "https://ovm.example" (ask the issuer for a token with that audience)`,
		},
		{
			name:   "a token of another organisation's repository",
			inputs: map[string]string{"audience": "https://ovm.example"},
			sign: func(aud string) string {
				c := issuer.Claims(aud, time.Now())
				c["repository_owner"], c["repository"] = "someone-else", "someone-else/app"
				return issuer.Sign(nil, c)
			},
			wantAudience: "https://ovm.example",
			want:         `::error::ovm: POST /v1/leases: 401 unauthorized: token claim "repository_owner" is "someone-else", not the value this server requires`,
		},
		{
			name:         "a pool without stock",
			inputs:       map[string]string{"audience": "https://ovm.example", "pool": "empty"},
			sign:         func(aud string) string { return issuer.Sign(nil, issuer.Claims(aud, time.Now())) },
			wantAudience: "https://ovm.example",
			want:         `::error::ovm: POST /v1/leases: 503 unavailable: pool "empty" has no account in stock after waiting 1s: the pool keeps no stock (stock.target is 0); expect one in about 1m0s (Retry-After)`,
		},
		{
			name:   "a job without id-token: write",
			inputs: map[string]string{"audience": "https://ovm.example"},
			noPerm: true,
			want:   "::error::ovm: the job cannot ask GitHub for an OIDC ID token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): give the job `permissions: id-token: write`",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.inputs["url"] = s.url
			c.inputs["wait"] = "1s"
			var env []string
			te := newTokenEndpoint(t, c.sign)
			if !c.noPerm {
				env = te.env()
			}
			r := runStep(t, "main.cjs", c.inputs, nil, env...)
			if r.err == nil || !strings.HasPrefix(r.errorLine(), c.want) {
				t.Fatalf("exit %v, error line %q, want it to start %q\n%s%s", r.err, r.errorLine(), c.want, r.stdout, r.stderr)
			}
			audiences, tokens := te.seen(t)
			if c.wantAudience == "(the url)" {
				c.wantAudience = s.url
			}
			if c.wantAudience != "" && !slices.Equal(audiences, []string{c.wantAudience}) {
				t.Errorf("the runner was asked for audiences %q, want %q", audiences, c.wantAudience)
			}
			for _, tok := range tokens {
				if strings.Contains(r.shown(), tok) {
					t.Errorf("the log shows the token:\n%s", r.shown())
				}
			}
			if len(r.env)+len(r.outputs)+len(r.state) != 0 {
				t.Errorf("a failed step wrote env %q, outputs %q, state %q", r.env, r.outputs, r.state)
			}
			if ls := s.leases(); len(ls) != 0 {
				t.Errorf("leases %+v after a refused token, want none", ls)
			}
		})
	}
}

// keep leaves the lease to its expiry; lease-id refreshes a lease's
// credentials and leaves the lease too. The token input signs in with an
// API key instead of the job's token (no ACTIONS_* variables at all).
func TestTheGitHubActionKeepsALeaseAndRefreshesItsCredentialsWithAnAPIKey(t *testing.T) {
	s, _ := actionServer(t)
	inputs := map[string]string{"url": s.url + "/", "token": s.key, "keep": "true", "wait": "20s"}
	mainStep := runStep(t, "main.cjs", inputs, nil)
	if mainStep.err != nil {
		t.Fatalf("main: %v\n%s%s", mainStep.err, mainStep.stdout, mainStep.stderr)
	}
	if !slices.Contains(mainStep.masked(), s.key) || strings.Contains(mainStep.shown(), s.key) {
		t.Errorf("the API key is shown or not masked:\n%s", mainStep.stdout)
	}
	id := mainStep.outputs["lease-id"]
	if len(mainStep.state) != 0 {
		t.Fatalf("keep: the state %q names a lease for the post step", mainStep.state)
	}
	post := runStep(t, "post.cjs", inputs, mainStep.state)
	if post.err != nil || !strings.Contains(post.stdout, "no lease to release") {
		t.Fatalf("post: %v\n%s%s", post.err, post.stdout, post.stderr)
	}
	if l := s.lease(id); l.State != "active" {
		t.Fatalf("keep: the lease is %s after the post step", l.State)
	}

	refresh := runStep(t, "main.cjs", map[string]string{"url": s.url, "token": s.key, "lease-id": id}, nil)
	if refresh.err != nil {
		t.Fatalf("refresh: %v\n%s%s", refresh.err, refresh.stdout, refresh.stderr)
	}
	if refresh.outputs["lease-id"] != id || refresh.outputs["account-id"] != mainStep.outputs["account-id"] || len(s.leases()) != 1 {
		t.Fatalf("refresh gave %q, want the outputs of lease %s and no new lease", refresh.outputs, id)
	}
	if refresh.env["AWS_SESSION_TOKEN"] == "" || refresh.env["AWS_SESSION_TOKEN"] == mainStep.env["AWS_SESSION_TOKEN"] {
		t.Errorf("refresh: no fresh session token")
	}
	if len(refresh.state) != 0 {
		t.Errorf("refresh: the state %q names a lease for the post step", refresh.state)
	}
	if l := s.lease(id); l.State != "active" {
		t.Fatalf("the lease is %s after a refresh", l.State)
	}

	if _, err := s.ovm("lease", "release", id); err != nil {
		t.Fatal(err)
	}
	ended := runStep(t, "main.cjs", map[string]string{"url": s.url, "token": s.key, "lease-id": id}, nil)
	if ended.err == nil || !strings.Contains(ended.errorLine(), "lease "+id+" is ended (released), not active") {
		t.Fatalf("refresh of an ended lease: %v %q", ended.err, ended.errorLine())
	}
}

// A server that answers a value with a line break (the real one never
// does, so this is a stand-in) must not get to set other variables of the
// job: the step refuses it, writes nothing, and releases the lease it made.
// It also shows a failure after the lease is made ending that lease.
func TestTheGitHubActionRefusesALineBreakAndReleasesTheLeaseItMade(t *testing.T) {
	var mu sync.Mutex
	var released []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ovm_key" {
			http.Error(w, `{"error":{"code":"unauthorized","message":"no"}}`, 401)
			return
		}
		lease := map[string]any{"id": "lse_1", "account_id": "123456789012", "state": "active", "pool": "default",
			"owner": "ci", "cross_account_role": "arn:aws:iam::123456789012:role/OVM", "expires_at": "2030-01-01T00:00:00Z"}
		switch r.Method + " " + r.URL.Path {
		case "POST /v1/leases":
			w.WriteHeader(201)
			json.NewEncoder(w).Encode(lease)
		case "POST /v1/leases/lse_1/credentials":
			json.NewEncoder(w).Encode(map[string]any{"Version": 1, "AccessKeyId": "ASIAFAKE", "SecretAccessKey": "secret-fake",
				"SessionToken": "tok\nAWS_ACCESS_KEY_ID=attacker", "Region": "us-east-1", "AccountId": "123456789012", "LeaseId": "lse_1"})
		case "DELETE /v1/leases/lse_1":
			mu.Lock()
			released = append(released, "lse_1")
			mu.Unlock()
			lease["state"] = "ended"
			json.NewEncoder(w).Encode(lease)
		default:
			http.NotFound(w, r)
		}
	}))
	defer fake.Close()
	r := runStep(t, "main.cjs", map[string]string{"url": fake.URL, "token": "ovm_key"}, nil)
	if r.err == nil || r.errorLine() != "::error::ovm: refusing AWS_SESSION_TOKEN: its value holds a line break" {
		t.Fatalf("exit %v, error line %q\n%s%s", r.err, r.errorLine(), r.stdout, r.stderr)
	}
	if len(r.env)+len(r.outputs) != 0 {
		t.Errorf("wrote env %q and outputs %q", r.env, r.outputs)
	}
	if strings.Contains(r.stdout+r.stderr, "attacker") || strings.Contains(r.stdout+r.stderr, "secret-fake") {
		t.Errorf("the log shows the refused value or a secret:\n%s", r.stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(released, []string{"lse_1"}) || !strings.Contains(r.stdout, "ovm: released lease lse_1 after the failure below") {
		t.Fatalf("released %q; log:\n%s", released, r.stdout)
	}
	// The post step then finds it ended: the state still names it.
	if r.state["lease_id"] != "lse_1" {
		t.Errorf("state %q", r.state)
	}
}

// action.yml is what a runner needs, and says what the scripts read and
// write; the docs' workflow uses only its inputs.
func TestTheGitHubActionsMetadataMatchesItsScripts(t *testing.T) {
	m := readActionMeta(t)
	if m.Name == "" || m.Description == "" {
		t.Errorf("action.yml: name %q, description %q", m.Name, m.Description)
	}
	if m.Runs.Using != "node24" || m.Runs.Main != "action/main.cjs" || m.Runs.Post != "action/post.cjs" || m.Runs.PostIf != "always()" {
		t.Errorf("runs: %+v, want node24, main and post, post-if always()", m.Runs)
	}
	for _, f := range []string{m.Runs.Main, m.Runs.Post} {
		if _, err := os.Stat(filepath.Join(actionDir, f)); err != nil {
			t.Errorf("runs: %v", err)
		}
	}
	var scripts string
	for _, f := range []string{"ovm.cjs", "main.cjs", "post.cjs"} {
		b, err := os.ReadFile(filepath.Join(actionDir, "action", f))
		if err != nil {
			t.Fatal(err)
		}
		scripts += string(b)
	}
	read := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:input|boolInput)\('([a-z-]+)'`).FindAllStringSubmatch(scripts, -1) {
		read[m[1]] = true
	}
	for _, name := range []string{"pool", "ttl", "wait"} { // read in a loop
		if strings.Contains(scripts, "'"+name+"'") {
			read[name] = true
		}
	}
	var declared []string
	for name, in := range m.Inputs {
		declared = append(declared, name)
		if in.Description == "" {
			t.Errorf("input %s has no description", name)
		}
		if !read[name] {
			t.Errorf("input %s is declared but no script reads it", name)
		}
		if in.Required != (name == "url") {
			t.Errorf("input %s: required %v", name, in.Required)
		}
	}
	for name := range read {
		if _, ok := m.Inputs[name]; !ok {
			t.Errorf("the scripts read input %s, which action.yml does not declare", name)
		}
	}
	sort.Strings(declared)
	if want := []string{"audience", "keep", "labels", "lease-id", "pool", "token", "ttl", "url", "wait"}; !slices.Equal(declared, want) {
		t.Errorf("inputs %q, want %q", declared, want)
	}
	if d := m.Inputs["keep"].Default; d == nil || *d != "false" {
		t.Errorf("keep's default is %v, want false", d)
	}
	var outputs []string
	for name, o := range m.Outputs {
		outputs = append(outputs, name)
		if o.Description == "" {
			t.Errorf("output %s has no description", name)
		}
		if !strings.Contains(scripts, "['"+name+"', ") {
			t.Errorf("output %s is declared but no script sets it", name)
		}
	}
	sort.Strings(outputs)
	if want := []string{"account-id", "expires-at", "lease-id", "role-arn"}; !slices.Equal(outputs, want) {
		t.Errorf("outputs %q, want %q", outputs, want)
	}

	// docs/oidc.md's workflow: the job may ask for a token, and the step
	// gives only inputs the action has.
	md, err := os.ReadFile("../../docs/oidc.md")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, part := range strings.Split(string(md), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		if !strings.Contains(body, "/ovm@") {
			continue
		}
		var wf struct {
			Permissions map[string]string
			Jobs        map[string]struct {
				Steps []struct {
					Uses string
					With map[string]string
				}
			}
		}
		if err := yaml.Unmarshal([]byte(body), &wf); err != nil {
			t.Fatalf("docs/oidc.md workflow: %v", err)
		}
		if wf.Permissions["id-token"] != "write" {
			t.Errorf("docs/oidc.md workflow: permissions %q, want id-token: write", wf.Permissions)
		}
		for _, job := range wf.Jobs {
			for _, st := range job.Steps {
				if !strings.Contains(st.Uses, "/ovm@") {
					continue
				}
				found = true
				for k := range st.With {
					if _, ok := m.Inputs[k]; !ok {
						t.Errorf("docs/oidc.md workflow: input %s is not in action.yml", k)
					}
				}
			}
		}
	}
	if !found {
		t.Error("docs/oidc.md has no workflow that uses the action")
	}
}

// A lease whose answer the network lost (the server made it, then the
// connection dropped) is asked again with the same Idempotency-Key: the job
// gets the lease the server made, and no second account is leased.
func TestTheGitHubActionRetriesALostLeaseWithItsKey(t *testing.T) {
	s, issuer := actionServer(t)
	te := newTokenEndpoint(t, func(aud string) string { return issuer.Sign(nil, issuer.Claims(aud, time.Now())) })
	target, _ := url.Parse(s.url)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var keys []string
	lossy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/leases" {
			proxy.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		first := len(keys) == 1
		mu.Unlock()
		if !first {
			proxy.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(httptest.NewRecorder(), r) // made by the server, answer lost
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer lossy.Close()
	before := len(s.leases())
	inputs := map[string]string{"url": lossy.URL, "audience": "https://ovm.example", "wait": "20s", "keep": "true"}
	step := runStep(t, "main.cjs", inputs, nil, te.env()...)
	if step.err != nil {
		t.Fatalf("main: %v\n%s%s", step.err, step.stdout, step.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || keys[0] == "" || keys[0] != keys[1] {
		t.Fatalf("Idempotency-Keys sent: %q, want the same key twice", keys)
	}
	if !strings.Contains(step.stdout, "asking again with the same Idempotency-Key") {
		t.Fatalf("the step did not say it retried:\n%s", step.stdout)
	}
	all := s.leases()
	if len(all) != before+1 || all[0].ID != step.env["OVM_LEASE_ID"] {
		t.Fatalf("%d leases after one lost answer (want %d), the job got %q", len(all), before+1, step.env["OVM_LEASE_ID"])
	}
}
