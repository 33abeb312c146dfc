package ovm_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
)

func TestALeasesEndMarksItsRevocationAndNothingIsReadyBeforeIt(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a := &ovm.Account{ID: "acc_1", Pool: "p", State: ovm.AccountLeased, Version: 3, LeaseID: "lse_1", AWSAccountID: "123456789012"}
	l := &ovm.Lease{ID: "lse_1", AccountID: "acc_1", State: ovm.LeaseEnded, EndReason: ovm.LeaseReleased, EndedAt: now,
		Principal: "arn:aws:iam::210987654321:role/ci"}
	u, err := ovm.EndAccountLease(a, l, ovm.RetirePolicy{Mode: ovm.RetireRecycle, ClockMargin: ovm.DefaultClockMargin}, "key:alice", now)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := ovm.PendingRevocation(u.Account)
	if !ok || r.LeaseID != "lse_1" || !r.Before.Equal(now.Add(ovm.DefaultClockMargin)) || r.Principal != l.Principal {
		t.Fatalf("revocation %+v %v", r, ok)
	}
	if _, err := ovm.FinishCleaning(u.Account, now); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("an account with its access not revoked must not be ready: %v", err)
	}
	done, err := ovm.FinishRevocation(u.Account, "trust reset", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, still := ovm.PendingRevocation(done.Account); still || done.Account.State != ovm.AccountCleaning ||
		done.Account.Progress[ovm.ProgressRevokedAt] == "" || !strings.Contains(done.Event.Reason, "lease lse_1 revoked: trust reset") {
		t.Fatalf("after the revocation: %+v %+v", done.Account, done.Event)
	}
	// Sessions issued before the end and the clock margin are denied, and
	// the next lessee's must come after that on AWS's clock too: not stock
	// before the end and twice the margin.
	vendable := now.Add(2 * ovm.DefaultClockMargin)
	if at := ovm.VendableAt(done.Account); !at.Equal(vendable) {
		t.Fatalf("vendable at %s, want %s", at, vendable)
	}
	if _, err := ovm.FinishCleaning(done.Account, vendable.Add(-time.Nanosecond)); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("ready within the revocation's clock margin: %v", err)
	}
	if _, err := ovm.FinishCleaning(done.Account, vendable); err != nil {
		t.Fatalf("once revoked and past the margin, cleaning may finish: %v", err)
	}
	if _, err := ovm.FinishRevocation(done.Account, "", now); ovm.ErrorCodeOf(err) != ovm.EConflict {
		t.Fatalf("a second revocation without a lease: %v", err)
	}
}

func TestAPrincipalIsARoleOrUserARN(t *testing.T) {
	for _, ok := range []string{"arn:aws:iam::123456789012:role/ci", "arn:aws:iam::123456789012:role/path/to/ci-role",
		"arn:aws:iam::123456789012:user/bot", "arn:aws-us-gov:iam::123456789012:role/x"} {
		if err := ovm.CheckPrincipalARN(ok, ""); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "*", "arn:aws:iam::123456789012:root", "arn:aws:iam::12345678901:role/x",
		"arn:aws:iam::123456789012:role/", "arn:aws:iam::123456789012:role/a//b", "arn:aws:iam::*:role/x",
		"arn:aws:iam::123456789012:role/x y", "arn:aws:s3:::bucket", " arn:aws:iam::123456789012:role/x",
		"arn:aws:iam::123456789012:role/" + strings.Repeat("r", 65), "arn:aws-xx:iam::123456789012:role/x"} {
		if err := ovm.CheckPrincipalARN(bad, ""); ovm.ErrorCodeOf(err) != ovm.EInvalid {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAPrincipalIsInThePoolsPartition(t *testing.T) {
	role := "arn:aws:iam::123456789012:role/OVMCrossAccountRole"
	if err := ovm.CheckPrincipalARN("arn:aws-cn:iam::123456789012:role/ci", role); ovm.ErrorCodeOf(err) != ovm.EInvalid ||
		!strings.Contains(err.Error(), "partition aws-cn") {
		t.Fatalf("another partition: %v", err)
	}
	if err := ovm.CheckPrincipalARN("arn:aws:iam::210987654321:role/path/ci", role); err != nil {
		t.Fatal(err)
	}
}

func TestSessionNamesAreWhatSTSAccepts(t *testing.T) {
	for owner, want := range map[string][2]string{
		"alice":                 {"ovm-alice", "alice"},
		"my-org/app":            {"ovm-my-org-app", "my-org-app"},
		"github:repo:x y":       {"ovm-github-repo-x-y", "github-repo-x-y"},
		"a":                     {"ovm-a", "ovm-a"},
		strings.Repeat("x", 80): {"ovm-" + strings.Repeat("x", 60), strings.Repeat("x", 64)},
	} {
		if got := ovm.SessionName(owner); got != want[0] {
			t.Errorf("SessionName(%q) = %q, want %q", owner, got, want[0])
		}
		if got := ovm.SourceIdentity(owner); got != want[1] {
			t.Errorf("SourceIdentity(%q) = %q, want %q", owner, got, want[1])
		}
	}
}

func TestCredentialsNeverPrintTheirSecrets(t *testing.T) {
	c := &ovm.Credentials{AccessKeyID: "ASIAX", SecretAccessKey: "s3cr3t", SessionToken: "t0k3n", SessionName: "ovm-a"}
	for _, s := range []string{c.String(), c.GoString(), c.LogValue().String(), fmt.Sprintf("%v %+v %#v %s", c, *c, *c, *c)} {
		if strings.Contains(s, "s3cr3t") || strings.Contains(s, "t0k3n") || !strings.Contains(s, "ASIAX") {
			t.Fatalf("%q", s)
		}
	}
}

// TestProgressKeysAreInTheirSpaces keeps ADR 0009 true: every Progress key
// the domain names is in one of the domain's key spaces, never in a
// provider's.
func TestProgressKeysAreInTheirSpaces(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Progress") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						continue
					}
					key, _ := strconv.Unquote(lit.Value)
					found++
					if !strings.HasPrefix(key, "access.") && !strings.HasPrefix(key, "input.") && !strings.HasPrefix(key, "live.") {
						t.Errorf("%s: %s = %q is outside the domain's key spaces (access., input., live.; ADR 0009)", f, name.Name, key)
					}
				}
			}
		}
	}
	if found < 5 {
		t.Fatalf("only %d Progress constants found", found)
	}
}

// Taking the guardrails off finishes a step the runner claimed: the claim
// goes with it, so the close or the cleaning that follows is due at once,
// not when the claim lapses (engine.claim_ttl), as after a revocation.
func TestTheUnguardReleasesItsStepsClaim(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	a := &ovm.Account{ID: "acc_1", State: ovm.AccountClosing, Version: 7, ClaimedBy: "replica-a", ClaimedUntil: now.Add(2 * time.Minute),
		Waiting: "unguard", Progress: map[string]string{ovm.ProgressGuardTemplate: "small", ovm.ProgressGuardVersion: "v1", ovm.ProgressGuarded: "v1"}}
	if !ovm.Unguarding(a) {
		t.Fatal("a closing account with guardrails is not unguarding")
	}
	u, err := ovm.FinishUnguard(a, "", now)
	if err != nil {
		t.Fatal(err)
	}
	n := u.Account
	if n.ClaimedBy != "" || !n.ClaimedUntil.IsZero() || n.Waiting != "" || !n.NextAttemptAt.Equal(now) || ovm.Unguarding(n) {
		t.Fatalf("after the unguard: claimed by %q until %s, waiting %q, next %s", n.ClaimedBy, n.ClaimedUntil, n.Waiting, n.NextAttemptAt)
	}
	if due, ok := n.DueAt(); !ok || !due.Equal(now) {
		t.Fatalf("the close is due at %s, not now", due)
	}
}
