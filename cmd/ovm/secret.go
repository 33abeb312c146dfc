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
	"github.com/ovmdev/ovm/provider/signup"
	"github.com/ovmdev/ovm/provider/signup/smvault"
)

// openVault is the secrets vault of the configuration and a description of
// where it keeps secrets (for messages; never a secret).
func openVault(ctx context.Context, cfg *Config) (signup.Vault, string, error) {
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
	return &signup.FileVault{Path: file, KeyPath: key}, file, nil
}

// secretCmd runs `ovm secret put NAME`: the value comes from standard input
// and goes into the vault of the configuration (--config), or the local
// vault of a data directory (--data, default ./ovm-data).
func secretCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const usage = "usage: ovm secret put NAME [--config FILE | --data DIR] < value"
	if len(args) < 2 || args[0] != "put" {
		return fmt.Errorf("%s: %w", usage, errUsage)
	}
	name, dir, cfgPath := args[1], "./ovm-data", ""
	for rest := args[2:]; len(rest) > 0; rest = rest[2:] {
		if len(rest) < 2 {
			return fmt.Errorf("%s: %w", usage, errUsage)
		}
		switch rest[0] {
		case "--data":
			dir = rest[1]
		case "--config":
			cfgPath = rest[1]
		default:
			return fmt.Errorf("unknown flag %s; %s: %w", rest[0], usage, errUsage)
		}
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
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
