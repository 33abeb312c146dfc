package smvault_test

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/vault"
	"github.com/ovmdev/ovm/vault/smvault"
	"github.com/ovmdev/ovm/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

func TestSecretsManagerVaultConformance(t *testing.T) {
	vaulttest.Run(t, func(t *testing.T) vault.Vault {
		srv := mototest.Require(t)
		return &smvault.Vault{API: secretsmanager.NewFromConfig(srv.Config()), Prefix: "ovm-test/"}
	})
}

// A secret scheduled for deletion reads as missing, and a new value brings
// it back instead of failing the sign-up that needs it.
func TestASecretScheduledForDeletionIsRestoredByPut(t *testing.T) {
	srv := mototest.Require(t)
	ctx := mototest.WithContext(t)
	api := secretsmanager.NewFromConfig(srv.Config())
	v := &smvault.Vault{API: awsDeletionRule{api}}
	if err := v.Put(ctx, "root-password/acc-1", "first"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("ovm/root-password/acc-1")}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, "root-password/acc-1"); err != vault.ErrNoSecret {
		t.Fatalf("Get of a deleted secret = %v, want ErrNoSecret", err)
	}
	if err := v.Put(ctx, "root-password/acc-1", "second"); err != nil {
		t.Fatal(err)
	}
	if got, err := v.Get(ctx, "root-password/acc-1"); err != nil || got != "second" {
		t.Fatalf("after restore: %q, %v", got, err)
	}
	d, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("ovm/root-password/acc-1")})
	if err != nil || d.DeletedDate != nil {
		t.Fatalf("secret still scheduled for deletion: %+v, %v", d, err)
	}
	if len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "ovm:managed-by" {
		t.Fatalf("tags = %+v", d.Tags)
	}
}

// awsDeletionRule fills one gap of moto: AWS refuses PutSecretValue on a
// secret scheduled for deletion (InvalidRequestException, "marked for
// deletion"), moto 5.2 accepts it. Everything else goes to moto.
type awsDeletionRule struct{ *secretsmanager.Client }

func (a awsDeletionRule) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	d, err := a.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: in.SecretId})
	if err == nil && d.DeletedDate != nil {
		return nil, &types.InvalidRequestException{Message: aws.String("You can't perform this operation on the secret because it was marked for deletion.")}
	}
	return a.Client.PutSecretValue(ctx, in, opts...)
}
