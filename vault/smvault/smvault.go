// Package smvault keeps OVM's secrets (root passwords, browser sessions,
// card and company data, webhook and OIDC client secrets) in AWS Secrets
// Manager: one secret per name under a prefix, optionally encrypted with
// the operator's KMS key. It is the production counterpart of vault.File,
// chosen by `secrets: {backend: secretsmanager}`.
package smvault

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/ovmdev/ovm/vault"
)

// API is the part of the Secrets Manager client the vault uses.
type API interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	RestoreSecret(context.Context, *secretsmanager.RestoreSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.RestoreSecretOutput, error)
}

// Vault implements vault.Vault on Secrets Manager.
type Vault struct {
	API API
	// Prefix is put before every name (default "ovm/").
	Prefix string
	// KMSKeyID encrypts new secrets ("" = the account's aws/secretsmanager key).
	KMSKeyID string
}

var _ vault.Vault = (*Vault)(nil)

func (v *Vault) id(name string) string {
	p := v.Prefix
	if p == "" {
		p = "ovm/"
	}
	return p + name
}

// Get implements vault.Vault: a missing (or deleted) secret is
// vault.ErrNoSecret.
func (v *Vault) Get(ctx context.Context, name string) (string, error) {
	out, err := v.API.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(v.id(name))})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf) || deleted(err):
		return "", vault.ErrNoSecret
	case err != nil:
		return "", fmt.Errorf("secrets manager: reading %s: %w", v.id(name), err)
	}
	return aws.ToString(out.SecretString), nil
}

// Put implements vault.Vault: a new version of the secret, created on
// first use (and restored if it was scheduled for deletion).
func (v *Vault) Put(ctx context.Context, name, value string) error {
	id := v.id(name)
	for range 3 {
		_, err := v.API.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)})
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil:
			return nil
		case errors.As(err, &nf):
			in := &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(value),
				Description: aws.String("kept by OVM, the AWS Organizations Vending Machine"),
				Tags:        []types.Tag{{Key: aws.String("ovm:managed-by"), Value: aws.String("ovm")}}}
			if v.KMSKeyID != "" {
				in.KmsKeyId = aws.String(v.KMSKeyID)
			}
			_, err = v.API.CreateSecret(ctx, in)
			var exists *types.ResourceExistsException
			if err == nil {
				return nil
			}
			if !errors.As(err, &exists) { // another writer created it first: put again
				return fmt.Errorf("secrets manager: creating %s: %w", id, err)
			}
		case deleted(err):
			if _, err := v.API.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(id)}); err != nil {
				return fmt.Errorf("secrets manager: restoring %s: %w", id, err)
			}
		default:
			return fmt.Errorf("secrets manager: writing %s: %w", id, err)
		}
	}
	return fmt.Errorf("secrets manager: writing %s: the secret kept changing under OVM", id)
}

// deleted reports AWS's refusal to use a secret scheduled for deletion.
func deleted(err error) bool {
	var ir *types.InvalidRequestException
	return errors.As(err, &ir) && strings.Contains(strings.ToLower(ir.ErrorMessage()), "delet")
}
