package dynamostore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/store/dynamostore"
	"github.com/ovmdev/ovm/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mototest.Stop()
	dynalitetest.Stop()
	os.Exit(code)
}

func open(t *testing.T, cfg aws.Config) *dynamostore.Store {
	table := fmt.Sprintf("ovm_%d", rand.Int64())
	s, err := dynamostore.Open(context.Background(), dynamodb.NewFromConfig(cfg), dynamostore.Options{Table: table, CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceOnMoto(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ovm.Store { return open(t, mototest.Require(t).Config()) })
}

func TestConformanceOnDynalite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) ovm.Store { return open(t, dynalitetest.Require(t).Config()) })
}

func TestAMissingTableIsAClearError(t *testing.T) {
	cfg := dynalitetest.Require(t).Config()
	_, err := dynamostore.Open(context.Background(), dynamodb.NewFromConfig(cfg), dynamostore.Options{Table: "nope"})
	if err == nil || !strings.Contains(err.Error(), "create_table") {
		t.Fatalf("err = %v", err)
	}
}

// A slot that a crash left taken (a vend that reserved and died, a lease
// end that never gave it back) is repaired when the owner reaches its
// limit; a vend still in flight keeps its slot.
func TestLeftOverLeaseSlotsAreRepairedAtTheLimit(t *testing.T) {
	ctx := context.Background()
	cfg := dynalitetest.Require(t).Config()
	db := dynamodb.NewFromConfig(cfg)
	table := fmt.Sprintf("ovm_%d", rand.Int64())
	s, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table, CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		storetest.Ready(t, s, "p1", storetest.T0)
	}
	vend := func(id string, now time.Time) (*ovm.Lease, error) {
		return s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: id, Pool: "p1", Owner: "alice", OwnerLimit: 2, Now: now, ExpiresAt: now.Add(time.Hour)})
	}
	take := func(element string) {
		if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
			Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "OWNER#alice"}, "sk": &types.AttributeValueMemberS{Value: "O"}},
			UpdateExpression:          aws.String("ADD res :e"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberSS{Value: []string{element}}}}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := storetest.T0
	// A vend that died after reserving, long ago, and one in flight now.
	take(fmt.Sprintf("lse_dead@%d", t0.Add(-time.Hour).Unix()))
	take(fmt.Sprintf("lse_inflight@%d", t0.Unix()))
	if _, err := vend("lse_1", t0); err != nil {
		t.Fatalf("the dead vend's slot was not repaired: %v", err)
	}
	if _, err := vend("lse_2", t0); !errors.Is(err, ovm.ErrLeaseLimit) {
		t.Fatalf("the in-flight vend's slot was taken: %v", err)
	}
	// A lease that ended but kept its slot (the end's release was lost).
	l1, _ := s.LeaseGet(ctx, "lse_1")
	if _, err := storetest.EndLease(ctx, s, "lse_1", ovm.LeaseReleased, ovm.RetirePolicy{Mode: ovm.RetireClose}, "key:alice", t0); err != nil {
		t.Fatal(err)
	}
	take(fmt.Sprintf("%s@%d", l1.ID, l1.CreatedAt.Unix()))
	if _, err := vend("lse_3", t0.Add(3*time.Minute)); err != nil {
		t.Fatalf("the ended lease's slot was not repaired: %v", err)
	}
	// The "in-flight" reservation is now old and still has no lease: it
	// is repaired too, and then two active leases fill the limit.
	if _, err := vend("lse_4", t0.Add(4*time.Minute)); err != nil {
		t.Fatalf("the stale in-flight slot was not repaired: %v", err)
	}
	if _, err := vend("lse_5", t0.Add(5*time.Minute)); !errors.Is(err, ovm.ErrLeaseLimit) {
		t.Fatalf("two active leases and a limit of 2: %v", err)
	}
}

// ownerSets reads owner's slot sets: attribute name -> lease ids.
func ownerSets(t *testing.T, db *dynamodb.Client, table, owner string) map[string][]string {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "OWNER#" + owner}, "sk": &types.AttributeValueMemberS{Value: "O"}}})
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string][]string{}
	for attr, v := range out.Item {
		if ss, ok := v.(*types.AttributeValueMemberSS); ok {
			for _, e := range ss.Value {
				id, _, _ := strings.Cut(e, "@")
				sets[attr] = append(sets[attr], id)
			}
			slices.Sort(sets[attr])
		}
	}
	return sets
}

// The slots under both limits are one item's sets: a vend takes its slot in
// each set of a limit it is under, a refused or failed vend takes none, and
// a lease's end gives back both, also where one set does not exist.
func TestLeaseSlotsOfBothLimits(t *testing.T) {
	for name, cfg := range map[string]func(testing.TB) aws.Config{
		"moto":     func(t testing.TB) aws.Config { return mototest.Require(t).Config() },
		"dynalite": func(t testing.TB) aws.Config { return dynalitetest.Require(t).Config() },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := dynamodb.NewFromConfig(cfg(t))
			table := fmt.Sprintf("ovm_%d", rand.Int64())
			s, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table, CreateTable: true})
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				storetest.Ready(t, s, "p1", storetest.T0)
			}
			t0 := storetest.T0
			vend := func(id, pool string, ownerLimit, poolLimit int) error {
				_, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: id, Pool: pool, Owner: "alice", OwnerLimit: ownerLimit,
					PoolOwnerLimit: poolLimit, Now: t0, ExpiresAt: t0.Add(time.Hour)})
				return err
			}
			end := func(id string) {
				t.Helper()
				if _, err := storetest.EndLease(ctx, s, id, ovm.LeaseReleased, ovm.RetirePolicy{Mode: ovm.RetireClose}, "key:alice", t0); err != nil {
					t.Fatal(err)
				}
			}
			want := func(step string, sets map[string][]string) {
				t.Helper()
				if got := ownerSets(t, db, table, "alice"); !maps.EqualFunc(got, sets, slices.Equal) {
					t.Fatalf("%s: slot sets %v, want %v", step, got, sets)
				}
			}
			if err := vend("lse_1", "p1", 0, 2); err != nil {
				t.Fatal(err)
			}
			want("a vend under the pool's limit only", map[string][]string{"res#p1": {"lse_1"}})
			if err := vend("lse_2", "p1", 5, 2); err != nil {
				t.Fatal(err)
			}
			want("a vend under both", map[string][]string{"res": {"lse_2"}, "res#p1": {"lse_1", "lse_2"}})
			if err := vend("lse_3", "p1", 5, 2); !errors.Is(err, ovm.ErrPoolLeaseLimit) {
				t.Fatalf("a third vend in p1: %v, want the pool's limit", err)
			}
			if err := vend("lse_4", "p2", 5, 2); !errors.Is(err, ovm.ErrEmpty) {
				t.Fatalf("a vend from the empty p2: %v", err)
			}
			want("a refused and a failed vend", map[string][]string{"res": {"lse_2"}, "res#p1": {"lse_1", "lse_2"}})
			end("lse_1") // holds no slot in res
			want("the end of lse_1", map[string][]string{"res": {"lse_2"}, "res#p1": {"lse_2"}})
			end("lse_2")
			want("the end of lse_2", map[string][]string{})
			if err := vend("lse_5", "p1", 0, 2); err != nil {
				t.Fatal(err)
			}
			end("lse_5") // res does not exist
			want("the end of lse_5", map[string][]string{})
		})
	}
}

// Slots under a pool's limit that a crash left taken are repaired when the
// owner reaches that limit, in every set that holds them; a vend in flight
// keeps its slot.
func TestLeftOverPoolSlotsAreRepairedAtTheLimit(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(dynalitetest.Require(t).Config())
	table := fmt.Sprintf("ovm_%d", rand.Int64())
	s, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table, CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		storetest.Ready(t, s, "p1", storetest.T0)
	}
	t0 := storetest.T0
	vend := func(id string, now time.Time) error {
		_, err := s.LeaseCreate(ctx, &ovm.LeaseCreateParams{LeaseID: id, Pool: "p1", Owner: "alice", OwnerLimit: 10, PoolOwnerLimit: 2,
			Now: now, ExpiresAt: now.Add(time.Hour)})
		return err
	}
	take := func(element string, attrs ...string) {
		t.Helper()
		names := map[string]string{}
		var adds []string
		for i, a := range attrs {
			names[fmt.Sprintf("#a%d", i)] = a
			adds = append(adds, fmt.Sprintf("#a%d :e", i))
		}
		if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
			Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "OWNER#alice"}, "sk": &types.AttributeValueMemberS{Value: "O"}},
			UpdateExpression:          aws.String("ADD " + strings.Join(adds, ", ")),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberSS{Value: []string{element}}}}); err != nil {
			t.Fatal(err)
		}
	}
	// A vend that died after reserving in both sets, long ago, and one in
	// flight now.
	take(fmt.Sprintf("lse_dead@%d", t0.Add(-time.Hour).Unix()), "res", "res#p1")
	take(fmt.Sprintf("lse_inflight@%d", t0.Unix()), "res", "res#p1")
	if err := vend("lse_1", t0); err != nil {
		t.Fatalf("the dead vend's slot was not repaired: %v", err)
	}
	if got := ownerSets(t, db, table, "alice"); slices.Contains(got["res"], "lse_dead") || slices.Contains(got["res#p1"], "lse_dead") {
		t.Fatalf("the dead vend still holds a slot: %v", got)
	}
	if err := vend("lse_2", t0); !errors.Is(err, ovm.ErrPoolLeaseLimit) {
		t.Fatalf("the in-flight vend's slot was taken: %v", err)
	}
	// The "in-flight" reservation is old now and still has no lease.
	if err := vend("lse_3", t0.Add(3*time.Minute)); err != nil {
		t.Fatalf("the stale in-flight slot was not repaired: %v", err)
	}
	if err := vend("lse_4", t0.Add(4*time.Minute)); !errors.Is(err, ovm.ErrPoolLeaseLimit) {
		t.Fatalf("two active leases in p1 and a pool limit of 2: %v", err)
	}
}

// A table written before key names were unique without regard to case and
// before the set of admin keys is migrated at Open: keys that differ only
// in case keep working, no new key can take any of their names, and its
// admin keys are counted (one of two can be revoked, not both).
func TestOpenMigratesTheKeysOfAnOlderTable(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(dynalitetest.Require(t).Config())
	table := fmt.Sprintf("ovm_%d", rand.Int64())
	if _, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table, CreateTable: true}); err != nil {
		t.Fatal(err)
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	put := func(it map[string]types.AttributeValue) {
		t.Helper()
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	// What an older OVM wrote: the key items and their markers, names as given.
	var secrets []string
	for _, name := range []string{"ADMIN", "Admin"} {
		k, secret, _ := ovm.NewAPIKey(name, ovm.RoleAdmin, storetest.T0)
		data, _ := json.Marshal(k)
		put(map[string]types.AttributeValue{"pk": s("KEY#" + k.ID), "sk": s("K"), "data": s(string(data)), "gsi1pk": s("KEYS"), "gsi1sk": s(k.ID)})
		put(map[string]types.AttributeValue{"pk": s("KEYNAME#" + k.Name), "sk": s("M"), "owner": s(k.ID)})
		put(map[string]types.AttributeValue{"pk": s("KEYHASH#" + k.Hash), "sk": s("M"), "owner": s(k.ID)})
		secrets = append(secrets, secret)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"pk": s("META"), "sk": s("SCHEMA")}}); err != nil {
		t.Fatal(err)
	}

	st, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		if _, err := st.KeyGetByHash(ctx, ovm.HashKey(secret)); err != nil {
			t.Fatalf("a key made before the migration: %v", err)
		}
	}
	for _, name := range []string{"admin", "aDMIN", "ADMIN"} {
		k, _, _ := ovm.NewAPIKey(name, ovm.RoleUser, storetest.T0)
		if err := st.KeyCreate(ctx, k); !errors.Is(err, ovm.ErrConflict) {
			t.Fatalf("new key %q: %v, want a conflict", name, err)
		}
	}
	k, _, _ := ovm.NewAPIKey("ci", ovm.RoleUser, storetest.T0)
	if err := st.KeyCreate(ctx, k); err != nil {
		t.Fatal(err)
	}
	var admins []*ovm.APIKey
	for _, secret := range secrets {
		a, _ := st.KeyGetByHash(ctx, ovm.HashKey(secret))
		admins = append(admins, a)
	}
	if _, err := st.KeyRevoke(ctx, admins[0].ID, "key:x", storetest.T0); err != nil {
		t.Fatalf("revoke one of two admin keys of an older table: %v", err)
	}
	if _, err := st.KeyRevoke(ctx, admins[1].ID, "key:x", storetest.T0); !errors.Is(err, ovm.ErrConflict) {
		t.Fatalf("revoke the last admin key of an older table: %v, want a conflict", err)
	}
}

// Admin keys whose creation or revocation stopped half-way (a crash
// between its two writes) never let the last admin key go: a key never
// counted is counted when it is revoked, and a revocation that took its
// key out of the set finishes when it is repeated.
func TestHalfDoneAdminKeyWritesKeepOneAdmin(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(dynalitetest.Require(t).Config())
	table := fmt.Sprintf("ovm_%d", rand.Int64())
	st, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table, CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	create := func(name string) *ovm.APIKey {
		k, _, _ := ovm.NewAPIKey(name, ovm.RoleAdmin, storetest.T0)
		if err := st.KeyCreate(ctx, k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	revoke := func(k *ovm.APIKey) error {
		_, err := st.KeyRevoke(ctx, k.ID, "key:x", storetest.T0)
		return err
	}
	a := create("a")
	// k's creation stopped after its item, before it was counted.
	k, _, _ := ovm.NewAPIKey("k", ovm.RoleAdmin, storetest.T0)
	data, _ := json.Marshal(k)
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": s("KEY#" + k.ID), "sk": s("K"), "data": s(string(data)), "gsi1pk": s("KEYS"), "gsi1sk": s(k.ID)}}); err != nil {
		t.Fatal(err)
	}
	if err := revoke(a); !errors.Is(err, ovm.ErrConflict) {
		t.Fatalf("revoke a while k is not counted: %v, want a conflict", err)
	}
	if err := revoke(k); err != nil {
		t.Fatalf("revoke the uncounted k: %v", err)
	}
	// b's revocation stopped after taking it out of the set.
	b := create("b")
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table),
		Key:                       map[string]types.AttributeValue{"pk": s("ADMINKEYS"), "sk": s("S")},
		UpdateExpression:          aws.String("DELETE ids :b ADD revoked :b"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": &types.AttributeValueMemberSS{Value: []string{b.ID}}}}); err != nil {
		t.Fatal(err)
	}
	if err := revoke(b); err != nil {
		t.Fatalf("repeat b's revocation: %v", err)
	}
	if got, _ := st.KeyGetByHash(ctx, b.Hash); !got.Revoked() {
		t.Fatal("b is not revoked")
	}
	if err := revoke(a); !errors.Is(err, ovm.ErrConflict) {
		t.Fatalf("revoke the last admin key a: %v, want a conflict", err)
	}
}
