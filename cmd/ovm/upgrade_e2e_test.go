package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/internal/testtool"
	"github.com/ovmdev/ovm/store/dynamostore"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

// refusedStart runs `ovm serve --config cfg`, which must exit 1 before it
// listens, and returns what it wrote on stderr.
func refusedStart(t *testing.T, cfg string, env ...string) string {
	t.Helper()
	cmd := exec.Command(binPath, "serve", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("ovm serve still runs on a newer store\n%s%s", stdout.String(), stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if strings.Contains(stdout.String(), "listening") || strings.Contains(stdout.String(), "admin API key") {
		t.Errorf("it started anyway:\n%s", stdout.String())
	}
	return stderr.String()
}

// An ovm binary older than its SQLite database refuses to serve: it exits
// with status 1 and a message naming both schema versions and what to do,
// writes no admin key, and leaves the database file as it was.
func TestServeRefusesASQLiteStoreOfANewerOVM(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, "")
	data := filepath.Join(s.dir, "data")
	path := filepath.Join(data, "ovm.db")
	st, err := sqlitestore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var know int
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&know); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, know+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)

	msg := refusedStart(t, s.cfg)
	for _, want := range []string{"ovm: sqlitestore: " + path, fmt.Sprintf("schema version %d", know+1),
		fmt.Sprintf("versions up to %d", know), "restore a backup", "docs/upgrades.md"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr does not say %q:\n%s", want, msg)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the refused start changed the database file")
	}
	if _, err := os.Stat(filepath.Join(data, "admin.key")); err == nil {
		t.Error("the refused start wrote an admin key")
	}
}

// The same on DynamoDB (moto): the table's schema version item is above
// what the binary knows, so no replica of this binary starts on it.
// An ovm binary older than its DynamoDB table (a newer version migrated
// it, as in a rolling upgrade) starts read-only instead of failing: it
// names both schema versions, answers writes 503 and /healthz 503, and
// leaves the table's schema version as it was.
func TestServeStartsReadOnlyOnADynamoDBTableOfANewerOVM(t *testing.T) {
	ctx := context.Background()
	moto := mototest.Require(t)
	table := fmt.Sprintf("ovm-newer-%d", time.Now().UnixNano())
	db := dynamodb.NewFromConfig(moto.Config())
	if _, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table, CreateTable: true}); err != nil {
		t.Fatal(err)
	}
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "META"}, "sk": &types.AttributeValueMemberS{Value: "SCHEMA"}}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item["v"] == nil {
		t.Fatalf("schema version item: %v %v", out, err)
	}
	know, _ := strconv.Atoi(out.Item["v"].(*types.AttributeValueMemberN).Value)
	newer := strconv.Itoa(know + 1)
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: key, UpdateExpression: aws.String("SET v = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: newer}}}); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, fmt.Sprintf("store: dynamodb\ndynamodb: {table: %s}\naws: {region: us-east-1, endpoint: %q}\n", table, moto.URL))
	s.startNoKey("AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	msg := s.stderr.String()
	for _, want := range []string{"ovm: read-only", "table " + table, "schema version " + newer, fmt.Sprintf("versions up to %d", know)} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr does not say %q:\n%s", want, msg)
		}
	}
	if h := s.do("GET", "/healthz", "", ""); h.status != 503 || !strings.Contains(string(h.body), "read-only") {
		t.Fatalf("health of a read-only replica: %d %s", h.status, h.body)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "data", "admin.key")); !os.IsNotExist(err) {
		t.Errorf("a read-only start wrote an admin key (%v)", err)
	}
	out, err = db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item["v"].(*types.AttributeValueMemberN).Value != newer {
		t.Fatalf("schema version after the read-only start: %v %v, want %s", out.Item, err, newer)
	}
}

func TestAnOnlineSQLiteBackupRestores(t *testing.T) {
	sqlite3 := testtool.Require(t, "sqlite3", "make deps (apt-get install sqlite3)")
	s := newServer(t, fastConfig)
	s.start()
	eventually(t, 20*time.Second, "a full stock", func() bool { return s.pool().Ready == 3 })
	a := s.do("POST", "/v1/leases", s.key, `{"ttl": "1h", "wait": "10s"}`)
	if a.status != 201 {
		t.Fatalf("lease: %d %s", a.status, a.body)
	}
	var lease struct {
		ID        string `json:"id"`
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal(a.body, &lease); err != nil || lease.ID == "" || lease.AccountID == "" {
		t.Fatalf("lease: %v %s", err, a.body)
	}

	// Online: the server is running (and refilling its stock) meanwhile.
	data := filepath.Join(s.dir, "data")
	var restores []*server
	for _, command := range []string{".backup '%s'", "VACUUM INTO '%s'"} {
		r := newServer(t, fastConfig)
		restored := filepath.Join(r.dir, "data")
		if err := os.MkdirAll(restored, 0o700); err != nil {
			t.Fatal(err)
		}
		sql := fmt.Sprintf(command, filepath.Join(restored, "ovm.db"))
		if out, err := exec.Command(sqlite3, filepath.Join(data, "ovm.db"), sql).CombinedOutput(); err != nil {
			t.Fatalf("sqlite3 %s: %v\n%s", sql, err, out)
		}
		for _, f := range []string{"admin.key", "sim-default.json"} {
			b, err := os.ReadFile(filepath.Join(data, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(restored, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		restores = append(restores, r)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.waitExit(30 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	for i, r := range restores {
		r.start()
		if r.key != s.key {
			t.Fatalf("restore %d has another admin key", i)
		}
		got := r.do("GET", "/v1/leases/"+lease.ID, r.key, "")
		var back struct {
			AccountID string `json:"account_id"`
			State     string `json:"state"`
		}
		json.Unmarshal(got.body, &back)
		if got.status != 200 || back.AccountID != lease.AccountID || back.State != "active" {
			t.Fatalf("the lease after restore %d: %d %s, want it active on %s", i, got.status, got.body, lease.AccountID)
		}
		eventually(t, 20*time.Second, "the restored server's stock", func() bool { return r.pool().Ready == 3 })
		r.checkInvariants()
		r.cmd.Process.Signal(syscall.SIGTERM)
		if err := r.waitExit(30 * time.Second); err != nil {
			t.Fatalf("SIGTERM: %v", err)
		}
	}
}

// A rolling upgrade on DynamoDB loses nothing: a build of the next version
// (-tags ovmnext: a newer writer version, one more migration, and a field
// in every account record that this build does not know) starts beside this
// one on the same table. From its start this build writes nothing (its
// vends answer 503, /healthz says read-only), so it neither drops the new
// field from a record nor vends by the older rules; the next version works
// on, its records keep their field, and this build started again after the
// upgrade starts read-only rather than failing.
func TestARollingUpgradeOnDynamoDBLosesNothing(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	ctx := context.Background()
	dyn := dynalitetest.Require(t)
	next := filepath.Join(t.TempDir(), "ovm-next")
	build := exec.Command("go", "build", "-tags", "ovmnext", "-o", next, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the next version: %v\n%s", err, out)
	}
	dir := t.TempDir()
	table := fmt.Sprintf("ovm-rolling-%d", time.Now().UnixNano())
	env := []string{"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	replica := func(name, bin string) *server {
		cfg := filepath.Join(dir, name+".yaml")
		body := fmt.Sprintf(`listen: 127.0.0.1:0
data_dir: %s
store: dynamodb
dynamodb: {table: %s, create_table: true}
aws: {region: us-east-1, endpoint: %q}
engine: {tick: 200ms, instance: %s}
pools:
  - name: default
    stock: {target: 3}
    lease: {default_ttl: 1h}
`, filepath.Join(dir, "data"), table, dyn.URL, name)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return &server{t: t, dir: dir, cfg: cfg, bin: bin}
	}
	old := replica("old", "")
	old.start(env...)
	eventually(t, 30*time.Second, "the old version's stock", func() bool { return old.pool().Ready == 3 })
	var before client.Lease
	old.ovmJSON(&before, "lease", "create")

	upgraded := replica("next", next)
	upgraded.start(env...)
	db := dynamodb.NewFromConfig(dyn.Config())
	meta, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "META"}, "sk": &types.AttributeValueMemberS{Value: "SCHEMA"}}})
	if err != nil || meta.Item["mw"] == nil {
		t.Fatalf("the table's lowest writer version: %v %v", meta, err)
	}
	if mw := meta.Item["mw"].(*types.AttributeValueMemberN).Value; mw != strconv.FormatInt(dynamostore.WriterVersion()+1, 10) {
		t.Fatalf("lowest writer version %s after the next version's start", mw)
	}

	// The old replica writes nothing now: within its check interval its
	// vends answer 503 and its health says read-only.
	eventually(t, 15*time.Second, "the old replica refuses to write", func() bool {
		a := old.do("POST", "/v1/leases", old.key, `{}`)
		return a.status == 503 && strings.Contains(string(a.body), "writes nothing")
	})
	if h := old.do("GET", "/healthz", "", ""); h.status != 503 || !strings.Contains(string(h.body), "read-only") {
		t.Fatalf("the old replica's health: %d %s", h.status, h.body)
	}
	// The next version vends, and ends the lease the old one made.
	var after client.Lease
	upgraded.ovmJSON(&after, "lease", "create", "--wait", "30s")
	if _, err := upgraded.ovm("lease", "release", before.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the released account closed by the next version", func() bool {
		var a client.Account
		upgraded.ovmJSON(&a, "account", "get", before.AccountID)
		return a.State == "closed"
	})
	// Every account record whose data the next version wrote keeps the
	// field the old one does not know, while both run their loops.
	kept := func() map[string]bool {
		out := map[string]bool{}
		var last map[string]types.AttributeValue
		for {
			page, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: last, ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				pk, _ := it["pk"].(*types.AttributeValueMemberS)
				sk, _ := it["sk"].(*types.AttributeValueMemberS)
				if pk == nil || sk == nil || !strings.HasPrefix(pk.Value, "ACC#") || sk.Value != "A" {
					continue
				}
				if data, _ := it["data"].(*types.AttributeValueMemberS); data != nil && strings.Contains(data.Value, `"next_field":"kept"`) {
					out[pk.Value] = true
				}
			}
			if last = page.LastEvaluatedKey; len(last) == 0 {
				return out
			}
		}
	}
	written := kept()
	if len(written) < 2 || !written["ACC#"+before.OVMAccountID] {
		t.Fatalf("account records the next version wrote: %v, want the closed one among them", written)
	}
	time.Sleep(3 * time.Second) // both replicas run their loops meanwhile
	still := kept()
	for id := range written {
		if !still[id] {
			t.Errorf("account %s lost the next version's field", id)
		}
	}

	// This build started after the upgrade serves, read-only.
	old.kill()
	late := replica("late", "")
	late.start(env...)
	if a := late.do("POST", "/v1/leases", late.key, `{}`); a.status != 503 || !strings.Contains(string(a.body), "writes nothing") {
		t.Fatalf("an old build started after the upgrade: %d %s", a.status, a.body)
	}
	if l := late.do("GET", "/v1/leases/"+after.ID, late.key, ""); l.status != 200 {
		t.Fatalf("an old build reads: %d %s", l.status, l.body)
	}
}
