package setup_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/provider"
	"github.com/ovmdev/ovm/provider/signup/setup"
	"github.com/ovmdev/ovm/vault"
)

// mapVault is an in-memory vault (the file and Secrets Manager vaults have
// their own conformance suite; this test is about the key names).
type mapVault map[string]string

func (v mapVault) Put(_ context.Context, name, value string) error { v[name] = value; return nil }
func (v mapVault) Get(_ context.Context, name string) (string, error) {
	if s, ok := v[name]; ok {
		return s, nil
	}
	return "", vault.ErrNoSecret
}

func TestAMissingSecretIsNamedByItsKeyNeverByItsValue(t *testing.T) {
	c := setup.Kind{}.NewConfig().(*setup.PoolConfig)
	c.Signup.BaseURL, c.Signup.EmailTemplate, c.Signup.TrustedPrincipal = "https://portal.example", "r+{id}@example.com", "arn:aws:iam::123456789012:root"
	c.Signup.PhoneNumbers, c.Signup.Inbox.S3Bucket = []string{"+15550100"}, "mail"
	c.Signup.Contact.FullName = "Ada Operator"
	c.Signup.Card.Number = "secret:card-number"
	p := provider.Pool{Pool: ovm.Pool{Name: "mgmt", Provider: "signup", RoleName: ovm.DefaultRoleName}}
	if err := c.Complete(&p, provider.Settings{}); err != nil {
		t.Fatal(err)
	}
	if p.Stock.MaxInFlight != 1 || p.Stock.MinSpacing == 0 {
		t.Fatalf("signup pacing %+v", p.Stock)
	}
	env := provider.Env{Pool: p.Pool, AWS: func(context.Context) (aws.Config, error) { return aws.Config{}, nil },
		Vault: func(context.Context) (vault.Vault, error) { return mapVault{}, nil }}
	_, err := c.New(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), "signup.card.number: secret \"card-number\" is not in the vault (ovm secret put card-number)") {
		t.Fatalf("error %v", err)
	}
	if errors.Is(err, vault.ErrNoSecret) || strings.Contains(err.Error(), "Ada") {
		t.Fatalf("error %v shows more than the key", err)
	}
}
