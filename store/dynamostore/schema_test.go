package dynamostore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/dynalitetest"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/store/dynamostore"
	"github.com/ovmdev/ovm/store/storetest"
)

// A table that a newer OVM migrated is refused at Open, naming both schema
// versions and what to do, and is left exactly as it was: every item
// reads back the same after the refused Open, the version item included.
func TestATableOfANewerOVMIsOpenedReadOnlyAndUntouched(t *testing.T) {
	for name, cfg := range map[string]func(testing.TB) aws.Config{
		"moto":     func(t testing.TB) aws.Config { return mototest.Require(t).Config() },
		"dynalite": func(t testing.TB) aws.Config { return dynalitetest.Require(t).Config() },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := dynamodb.NewFromConfig(cfg(t))
			table := fmt.Sprintf("ovm_%d", rand.Int64())
			st, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table, CreateTable: true})
			if err != nil {
				t.Fatal(err)
			}
			a := storetest.Account("p1")
			if err := st.AccountInsert(ctx, a, "planner"); err != nil {
				t.Fatal(err)
			}
			k, _, _ := ovm.NewAPIKey("admin", ovm.RoleAdmin, storetest.T0)
			if err := st.KeyCreate(ctx, k); err != nil {
				t.Fatal(err)
			}
			metaKey := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "META"},
				"sk": &types.AttributeValueMemberS{Value: "SCHEMA"}}
			meta, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: metaKey, ConsistentRead: aws.Bool(true)})
			if err != nil || meta.Item["v"] == nil {
				t.Fatalf("the schema version item: %v %v", meta, err)
			}
			know, _ := strconv.Atoi(meta.Item["v"].(*types.AttributeValueMemberN).Value)
			// What a newer OVM would have left: its migration recorded.
			if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: metaKey,
				UpdateExpression:          aws.String("SET v = :v"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(know + 1)}}}); err != nil {
				t.Fatal(err)
			}
			before := scanAll(t, db, table)

			// A rolling upgrade: the older binary opens the table read-only.
			old, err := dynamostore.Open(ctx, db, dynamostore.Options{Table: table, CreateTable: true})
			if err != nil {
				t.Fatalf("open a newer table: %v, want a read-only store", err)
			}
			fenced := old.Fenced()
			if fenced == nil {
				t.Fatal("a table of a newer schema was opened for writing")
			}
			for _, want := range []string{"writes nothing", "table " + table, fmt.Sprintf("schema version %d", know+1),
				fmt.Sprintf("versions up to %d", know), "ovm binary at least as new", "docs/upgrades.md"} {
				if !strings.Contains(fenced.Error(), want) {
					t.Errorf("%q does not say %q", fenced, want)
				}
			}
			if err := old.AccountInsert(ctx, storetest.Account("p1"), "planner"); ovm.ErrorCodeOf(err) != ovm.EUnavailable {
				t.Fatalf("a write of the read-only store: %v", err)
			}
			if got, err := old.AccountGet(ctx, a.ID); err != nil || got.ID != a.ID {
				t.Fatalf("a read of the read-only store: %v %v", got, err)
			}
			if after := scanAll(t, db, table); !reflect.DeepEqual(before, after) {
				t.Fatalf("the read-only open changed the table:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// scanAll reads every item of table (a test's small table), ordered by key.
func scanAll(t *testing.T, db *dynamodb.Client, table string) []map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, out.Items...)
	}
	key := func(it map[string]types.AttributeValue) string {
		return it["pk"].(*types.AttributeValueMemberS).Value + "\x00" + it["sk"].(*types.AttributeValueMemberS).Value
	}
	sort.Slice(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	if len(items) < 3 {
		t.Fatalf("the table holds %d items, want the account, the key and the schema version at least", len(items))
	}
	return items
}
