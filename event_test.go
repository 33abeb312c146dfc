package ovm_test

import (
	"testing"

	"github.com/ovmdev/ovm"
)

func TestTheActorOfAnOwnerSaysWhetherItIsAKeyOrAToken(t *testing.T) {
	for owner, want := range map[string]string{
		"alice":                               "key:alice",
		"ci.bot@example.com":                  "key:ci.bot@example.com",
		"my-org/app":                          "oidc:my-org/app",
		"github:my-org":                       "oidc:github:my-org",
		"repo:my-org/app:ref:refs/heads/main": "oidc:repo:my-org/app:ref:refs/heads/main",
	} {
		if got := ovm.OwnerActor(owner); got != want {
			t.Errorf("OwnerActor(%q) = %q, want %q", owner, got, want)
		}
	}
}
