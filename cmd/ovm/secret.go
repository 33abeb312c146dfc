package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/ovmdev/ovm/vault"
	"github.com/ovmdev/ovm/vault/smvault"
	"github.com/spf13/cobra"
)

// openVault is the secrets vault of the configuration and a description of
// where it keeps secrets (for messages; never a secret).
func openVault(ctx context.Context, cfg *Config) (vault.Vault, string, error) {
	if cfg.Secrets.Backend == "secretsmanager" {
		ac, err := loadAWSConfig(ctx, cfg.AWS)
		if err != nil {
			return nil, "", err
		}
		v := &smvault.Vault{API: secretsmanager.NewFromConfig(ac), Prefix: cfg.Secrets.Prefix, KMSKeyID: cfg.Secrets.KMSKeyID}
		return v, "AWS Secrets Manager (" + ac.Region + ")", nil
	}
	file, key := cfg.Secrets.File, cfg.Secrets.KeyFile
	if file == "" {
		file = filepath.Join(cfg.DataDir, "secrets.json")
	}
	if key == "" {
		key = filepath.Join(cfg.DataDir, "secrets.key")
	}
	return &vault.File{Path: file, KeyPath: key}, file, nil
}

func secretCommand(stdin io.Reader, stdout io.Writer) *cobra.Command {
	var cfgPath, dir string
	put := &cobra.Command{Use: "put NAME", Short: "put a secret (card, contact, solver key) read from standard input into the vault",
		Long: `Reads the value from standard input and puts it into the vault of the
configuration (--config), or the local vault of a data directory (--data,
default ./ovm-data). Configurations refer to it as secret:NAME.`,
		Example: `  printf %s "$CARD_NUMBER" | ovm secret put card_number
  ovm secret put okta-console --config /etc/ovm/ovm.yaml < client-secret.txt`,
		Args: exactArgs("NAME"),
		RunE: func(c *cobra.Command, a []string) error {
			if cfgPath != "" && c.Flags().Changed("data") {
				return usagef(c, "give --config or --data, not both")
			}
			return secretPut(c.Context(), a[0], cfgPath, dir, stdin, stdout)
		}}
	put.Flags().StringVar(&cfgPath, "config", "", "configuration file whose secrets: block names the vault")
	put.Flags().StringVar(&dir, "data", "./ovm-data", "data directory of the local vault")
	return group("secret", "manage the secrets vault", put)
}

// secretPut puts the value on stdin into the vault as name.
func secretPut(ctx context.Context, name, cfgPath, dir string, stdin io.Reader, stdout io.Writer) error {
	b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
	if err != nil {
		return err
	}
	value := strings.TrimRight(string(b), "\r\n")
	if value == "" {
		return errors.New("no value on standard input")
	}
	cfg := &Config{DataDir: dir}
	if cfgPath != "" {
		if cfg, err = loadConfig(cfgPath); err != nil {
			return err
		}
	}
	if cfg.Secrets.Backend != "secretsmanager" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, where, err := openVault(ctx, cfg)
	if err != nil {
		return err
	}
	if err := v.Put(ctx, name, value); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "secret %s stored in %s\n", name, where)
	return nil
}
