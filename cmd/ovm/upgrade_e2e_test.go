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
func TestServeRefusesADynamoDBTableOfANewerOVM(t *testing.T) {
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

	msg := refusedStart(t, s.cfg, "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing")
	for _, want := range []string{"ovm: dynamostore: table " + table, "schema version " + newer,
		fmt.Sprintf("versions up to %d", know), "restore a backup", "docs/upgrades.md"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr does not say %q:\n%s", want, msg)
		}
	}
	out, err = db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item["v"].(*types.AttributeValueMemberN).Value != newer {
		t.Fatalf("schema version after the refused start: %v %v, want %s", out.Item, err, newer)
	}
}

// The backups that docs/upgrades.md describes: sqlite3's .backup and
// VACUUM INTO of the database while `ovm serve` runs, plus admin.key and
// the simulated AWS's file, each restored into a fresh data directory,
// serve the same lease to the same key. (A plain copy of ovm.db while
// the server runs does not: what is still in ovm.db-wal is lost.)
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
