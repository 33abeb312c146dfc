package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/ovmdev/ovm/client"
)

// guardedTemplates is a guarded template of the moto pool.
func guardedTemplates(aws.Config) string {
	return `templates:
  - name: eu-only
    pool: members
    guardrails: {regions: [eu-west-1], deny_actions: ["savingsplans:*"]}
`
}

// guardSCPs returns the SCPs OVM made for eu-only, and those attached to
// account acct.
func guardSCPs(t *testing.T, cfg aws.Config, acct string) (made, attached []types.PolicySummary) {
	t.Helper()
	orgs := organizations.NewFromConfig(cfg)
	all, err := orgs.ListPolicies(context.Background(), &organizations.ListPoliciesInput{Filter: types.PolicyTypeServiceControlPolicy})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all.Policies {
		if strings.HasPrefix(aws.ToString(p.Name), "ovm-guard-eu-only-") {
			made = append(made, p)
		}
	}
	on, err := orgs.ListPoliciesForTarget(context.Background(), &organizations.ListPoliciesForTargetInput{TargetId: aws.String(acct),
		Filter: types.PolicyTypeServiceControlPolicy})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range on.Policies {
		if strings.HasPrefix(aws.ToString(p.Name), "ovm-guard-") {
			attached = append(attached, p)
		}
	}
	return made, attached
}

func leaseOf(t *testing.T, s *server, key, body string) (client.Lease, time.Duration) {
	t.Helper()
	start := time.Now()
	a := s.do("POST", "/v1/leases", key, body)
	took := time.Since(start)
	var l client.Lease
	if err := json.Unmarshal(a.body, &l); a.status != 201 || err != nil {
		t.Fatalf("POST /v1/leases %s: %d %s", body, a.status, a.body)
	}
	return l, took
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// The real binary on moto: the vend of a guarded template answers with its
// SCP attached to the account (as the document says), and after the
// release the SCP comes off after the revocation and before the close.
// moto attaches SCPs but enforces none: this shows what OVM writes and
// attaches, not AWS denying a call.
func TestAGuardedLeaseOnMotoHasItsSCPFromTheVendToItsRetirement(t *testing.T) {
	s, cfg, env := motoServerWith(t, guardedTemplates)
	s.start(env...)
	stock := func(n int) {
		eventually(t, 120*time.Second, "moto accounts in stock", func() bool {
			var p client.Pool
			s.ovmJSON(&p, "pool", "status", "members")
			return p.Ready >= n
		})
	}
	stock(2)
	l, first := leaseOf(t, s, s.key, `{"template":"eu-only","wait":"60s"}`)
	made, attached := guardSCPs(t, cfg, l.AccountID)
	if len(made) != 1 || len(attached) != 1 || aws.ToString(attached[0].Id) != aws.ToString(made[0].Id) ||
		aws.ToString(attached[0].Name) != "ovm-guard-eu-only-"+l.Terms.GuardrailVersion {
		t.Fatalf("SCPs made %v, attached to %s %v", made, l.AccountID, attached)
	}
	d, err := organizations.NewFromConfig(cfg).DescribePolicy(context.Background(), &organizations.DescribePolicyInput{PolicyId: attached[0].Id})
	if err != nil {
		t.Fatal(err)
	}
	doc := aws.ToString(d.Policy.Content)
	for _, want := range []string{`"OVMDenyOtherRegions"`, `"aws:RequestedRegion":["eu-west-1"]`, `"savingsplans:*"`,
		`"arn:aws:iam::*:role/OrganizationAccountAccessRole"`, `"OVMProtectItsRole"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("the attached SCP lacks %s:\n%s", want, doc)
		}
	}
	if _, err := s.ovm("lease", "release", l.ID); err != nil {
		t.Fatal(err)
	}
	var a client.Account
	eventually(t, 60*time.Second, "the account closed", func() bool {
		s.ovmJSON(&a, "account", "get", l.AccountID)
		return a.State == "closed"
	})
	var evs client.Page[client.Event]
	if r := s.do("GET", "/v1/accounts/"+l.OVMAccountID+"/events?order=oldest&limit=100", s.key, ""); r.status != 200 || json.Unmarshal(r.body, &evs) != nil {
		t.Fatalf("the account's events: %d %s", r.status, r.body)
	}
	var order []string
	for _, e := range evs.Items {
		switch {
		case strings.Contains(e.Reason, "revoked"):
			order = append(order, "revoked")
		case strings.Contains(e.Reason, "taken off"):
			order = append(order, "unguarded")
		case e.To == "closed":
			order = append(order, "closed")
		}
	}
	if strings.Join(order, ",") != "revoked,unguarded,closed" {
		t.Fatalf("the account's retirement: %v", order)
	}

	// The figure: vends of the guarded template against vends of the pool,
	// from stock, kept (the pool's close quota of 5 allows 4 live
	// accounts): the first vend's SCP was made, these find it.
	var other client.Key
	s.ovmJSON(&other, "key", "create", "plain")
	guarded, plain := []time.Duration{first}, []time.Duration(nil)
	for range 2 {
		stock(2)
		_, took := leaseOf(t, s, s.key, `{"template":"eu-only","wait":"60s"}`)
		guarded = append(guarded, took)
		_, took = leaseOf(t, s, other.Key, `{"pool":"members","wait":"60s"}`)
		plain = append(plain, took)
	}
	t.Logf("vend on moto: %d guarded, p50 %s max %s (the first makes the SCP); %d unguarded, p50 %s max %s", len(guarded),
		quantile(guarded, 0.5), quantile(guarded, 1), len(plain), quantile(plain, 0.5), quantile(plain, 1))
}

// kill -9 after moto attached the SCP and before the store recorded it:
// after the restart the drift check (at start) finishes the guard, with
// one policy made and attached once.
func TestKillBetweenAttachingTheSCPAndItsRecord(t *testing.T) {
	s, cfg, env := motoServerWith(t, guardedTemplates)
	s.start(append(env, "OVM_TEST_CRASH_POINT=vend.after-guard")...)
	eventually(t, 120*time.Second, "moto accounts in stock", func() bool {
		var p client.Pool
		s.ovmJSON(&p, "pool", "status", "members")
		return p.Ready >= 1
	})
	if a := s.do("POST", "/v1/leases", s.key, `{"template":"eu-only"}`); a.status > 0 {
		t.Fatalf("the vend answered %d across the crash point: %s", a.status, a.body)
	}
	err := s.waitExit(30 * time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("want a SIGKILL at the crash point, got %v\n%s", err, s.stderr.String())
	}
	s.start(env...)
	var leases client.Page[client.Lease]
	s.ovmJSON(&leases, "lease", "list")
	if len(leases.Items) != 1 {
		t.Fatalf("%d leases after the crash", len(leases.Items))
	}
	l := leases.Items[0]
	var a client.Account
	eventually(t, 30*time.Second, "the guard finished by the drift check", func() bool {
		s.ovmJSON(&a, "account", "get", l.AccountID)
		return a.Progress["access.guarded"] != ""
	})
	made, attached := guardSCPs(t, cfg, l.AccountID)
	if len(made) != 1 || len(attached) != 1 {
		t.Fatalf("after the crash and the restart: %d SCPs made, %d attached to the account; want 1 and 1", len(made), len(attached))
	}
}
