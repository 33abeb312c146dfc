package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/store/dynamostore"
)

// adminKeyBackends are the DynamoDB servers on which replicas start at
// once, each with a client of its own on one fresh table. SQLite is not
// among them: a second process cannot open the file (sqlitestore holds a
// lock, and `ovm serve` opens the store before it looks at the admin key),
// so the race cannot happen there.
var adminKeyBackends = []struct {
	name   string
	config func(t testing.TB) aws.Config // once per test: mototest.Require holds the server until t ends
}{
	{"moto", func(t testing.TB) aws.Config { return mototest.Require(t).Config() }},
	{"dynalite", func(t testing.TB) aws.Config { return dynalitetest.Require(t).Config() }},
}

// openDynamoReplicas opens n stores, each with a client of its own, on one
// new table (created by the first). A pause holds each key creation for
// that long between claiming the key's hash and writing the key.
func openDynamoReplicas(t *testing.T, n int, cfg aws.Config, pause time.Duration) []ovm.Store {
	table := fmt.Sprintf("ovm-adminkey-%d", rand.Int64())
	var stores []ovm.Store
	for i := range n {
		var db dynamostore.API = dynamodb.NewFromConfig(cfg)
		if pause > 0 {
			db = pausedKeyWrites{db, pause}
		}
		s, err := dynamostore.Open(context.Background(), db, dynamostore.Options{Table: table, CreateTable: i == 0})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	return stores
}

// pausedKeyWrites pauses after each write that claims a key's hash. It is
// only timing: every write reaches the real server. It widens the moment
// in which a key's name is claimed and the key not yet written, which real
// DynamoDB (a few writes in a row) and the test servers (on loopback) keep
// too short for a test to meet it each time.
type pausedKeyWrites struct {
	dynamostore.API
	pause time.Duration
}

func (p pausedKeyWrites) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := p.API.PutItem(ctx, in, opts...)
	if pk, ok := in.Item["pk"].(*types.AttributeValueMemberS); ok && err == nil && strings.HasPrefix(pk.Value, "KEYHASH#") {
		time.Sleep(p.pause)
	}
	return out, err
}

// startAtOnce calls ensureAdminKey for every store at the same moment, each
// with its own key file, and returns what each call returned.
func startAtOnce(stores []ovm.Store, keyPaths []string, now time.Time) ([]bool, []error) {
	usable, errs := make([]bool, len(stores)), make([]error, len(stores))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			usable[i], errs[i] = ensureAdminKey(context.Background(), s, keyPaths[i], now, log)
		})
	}
	close(start)
	wg.Wait()
	return usable, errs
}

// allKeys lists every stored key.
func allKeys(t *testing.T, s ovm.Store) []*ovm.APIKey {
	t.Helper()
	var all []*ovm.APIKey
	p := &ovm.PageParams{Limit: ovm.MaxPageLimit}
	for {
		keys, next, err := s.KeyList(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, keys...)
		if next == "" {
			return all
		}
		p.Cursor = next
	}
}

// checkNoNameBurnt fails t unless the names admin-2 to admin-(n+1) can
// still be given to new keys. The names are tried in this order, so a name
// claimed by a refused creation shows here first.
func checkNoNameBurnt(t *testing.T, s ovm.Store, n int, now time.Time) {
	t.Helper()
	for i := 2; i <= n+1; i++ {
		k, _, err := ovm.NewAPIKey("admin-"+strconv.Itoa(i), ovm.RoleAdmin, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.KeyCreate(context.Background(), k); err != nil {
			t.Errorf("the name %s was left taken by a refused creation: %v", k.Name, err)
		}
	}
}

func TestReplicasStartingAtOnceStoreTheFirstAdminKeyOnce(t *testing.T) {
	const replicas, rounds = 4, 5
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for _, b := range adminKeyBackends {
		for _, pause := range []time.Duration{0, 300 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s, key creation paused %s", b.name, pause), func(t *testing.T) {
				cfg := b.config(t)
				for round := range rounds {
					startReplicasAtOnce(t, openDynamoReplicas(t, replicas, cfg, pause), round, now)
					if t.Failed() {
						return
					}
				}
			})
		}
	}
}

// startReplicasAtOnce gives every store's replica the same key (Secrets
// Manager through a key file), each in a data directory of its own, starts
// them at once, and checks that each start succeeds, that the key is
// stored once, as admin, and that no other name was taken.
func startReplicasAtOnce(t *testing.T, stores []ovm.Store, round int, now time.Time) {
	t.Helper()
	_, secret, err := ovm.NewAPIKey("admin", ovm.RoleAdmin, now)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for range stores {
		p := filepath.Join(t.TempDir(), "admin.key")
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	usable, errs := startAtOnce(stores, paths, now)
	for i := range stores {
		if errs[i] != nil || !usable[i] {
			t.Errorf("round %d: replica %d failed its start: usable %v, %v", round, i, usable[i], errs[i])
		}
	}
	keys := allKeys(t, stores[0])
	if len(keys) != 1 || keys[0].Hash != ovm.HashKey(secret) || keys[0].Name != "admin" || keys[0].Role != ovm.RoleAdmin || keys[0].Revoked() {
		t.Errorf("round %d: want one active admin key named admin with the file's hash, have %d:", round, len(keys))
		for _, k := range keys {
			t.Errorf("  %s %s revoked=%v same hash=%v", k.Name, k.Role, k.Revoked(), k.Hash == ovm.HashKey(secret))
		}
	}
	checkNoNameBurnt(t, stores[0], len(stores), now)
}
