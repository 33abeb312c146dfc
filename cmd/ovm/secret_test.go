package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovmdev/ovm/provider/signup"
)

func TestSecretPutStoresInTheVaultAndRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := secretCmd([]string{"put", "card_number", "--data", dir}, strings.NewReader("4111 1111 1111 1111\n"), &out, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "4111") {
		t.Fatalf("the value was printed: %q", out.String())
	}
	v := &signup.FileVault{Path: filepath.Join(dir, "secrets.json"), KeyPath: filepath.Join(dir, "secrets.key")}
	if got, err := v.Get(context.Background(), "card_number"); err != nil || got != "4111 1111 1111 1111" {
		t.Fatalf("vault: %q %v", got, err)
	}
	cases := map[string][]string{
		"unknown flag --bogus": {"put", "x", "--bogus", "y"},
		"usage":                {"get", "x"},
		"no value":             {"put", "x", "--data", dir},
		"config":               {"put", "x", "--config", filepath.Join(dir, "missing.yaml")},
	}
	for want, args := range cases {
		stdin := "value"
		if want == "no value" {
			stdin = "\n"
		}
		err := secretCmd(args, strings.NewReader(stdin), &out, &out)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want an error containing %q", args, err, want)
		}
		if want == "usage" && !errors.Is(err, errUsage) {
			t.Errorf("%v: not a usage error", args)
		}
	}
}
