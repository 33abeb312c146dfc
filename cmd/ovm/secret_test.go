package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovmdev/ovm/vault"
)

func TestSecretPutStoresInTheVaultAndRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := runWith([]string{"secret", "put", "card_number", "--data", dir}, strings.NewReader("4111 1111 1111 1111\n"), &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if strings.Contains(out.String(), "4111") {
		t.Fatalf("the value was printed: %q", out.String())
	}
	v := &vault.File{Path: filepath.Join(dir, "secrets.json"), KeyPath: filepath.Join(dir, "secrets.key")}
	if got, err := v.Get(context.Background(), "card_number"); err != nil || got != "4111 1111 1111 1111" {
		t.Fatalf("vault: %q %v", got, err)
	}
	cases := []struct {
		want string
		args []string
		code int
	}{
		{"unknown flag: --bogus (see ovm secret put --help)", []string{"put", "x", "--bogus", "y"}, 2},
		{`unknown subcommand "get"`, []string{"get", "x"}, 2},
		{"needs NAME", []string{"put"}, 2},
		{"give --config or --data, not both", []string{"put", "x", "--data", dir, "--config", "c.yaml"}, 2},
		{"no value", []string{"put", "x", "--data", dir}, 1},
		{"missing.yaml", []string{"put", "x", "--config", filepath.Join(dir, "missing.yaml")}, 1},
	}
	for _, c := range cases {
		stdin := "value"
		if c.want == "no value" {
			stdin = "\n"
		}
		var stdout, stderr bytes.Buffer
		code := runWith(append([]string{"secret"}, c.args...), strings.NewReader(stdin), &stdout, &stderr)
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code != c.code || !strings.Contains(stderr.String(), c.want) || len(lines) != 1 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line containing %q", c.args, code, stderr.String(), c.code, c.want)
		}
	}
}
