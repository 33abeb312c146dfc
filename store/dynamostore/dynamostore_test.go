package dynamostore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
