package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

// budgetConfig is the embedded default's pool spending 1 USD a second,
// with a budget of 10 USD: notify at 20%, freeze at 40%, end at 100%.
const budgetConfig = `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
spend: {interval: 100ms, late_events: 1s}
pools:
  - name: default
    stock: {target: 2, ceiling: 4}
    lease: {default_ttl: 1h, max_ttl: 2h, min_ttl: 1s}
    retry: {base_delay: 100ms, max_delay: 1s}
    sim: {create_latency: 100ms, bootstrap_latency: 100ms, close_latency: 100ms, clean_latency: 100ms, spend_per_hour: 3600}
    budget:
      limit_usd: 10
      thresholds:
        - {at: "20%", action: notify}
        - {at: "40%", action: freeze}
        - {at: "100%", action: end}
`

// budgetNotices counts the lease.budget notifications of lease id by
// action, from GET /v1/deliveries.
func (s *server) budgetNotices(id string) map[ovm.BudgetAction]int {
	s.t.Helper()
	a := s.do("GET", "/v1/deliveries?limit=1000", s.key, "")
	if a.status != 200 {
		s.t.Fatalf("GET /v1/deliveries: %d %s", a.status, a.body)
	}
	var page client.Page[client.Delivery]
	if err := json.Unmarshal(a.body, &page); err != nil {
		s.t.Fatal(err)
	}
	out := map[ovm.BudgetAction]int{}
	for _, d := range page.Items {
		if d.Event.Type == ovm.NotifyLeaseBudget && d.Event.LeaseID == id && d.Event.Budget != nil {
			out[d.Event.Budget.Action]++
		}
	}
	return out
}

// The real binary on the embedded default: a lease's budget notifies,
// freezes (credentials refused with the frozen code and exit code 4), an
// admin raises it and unfreezes (credentials again), lowers it, and the
// end threshold ends the lease as budget; every act notified once.
func TestTheRealBinaryActsOnALeasesBudget(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := newServer(t, budgetConfig)
	s.start()
	var l client.Lease
	s.ovmJSON(&l, "lease", "create", "--wait", "20s")
	if l.Budget == nil || l.Budget.LimitUSD != 10 || len(l.Budget.Thresholds) != 3 {
		t.Fatalf("the lease's budget: %+v", l.Budget)
	}
	var got client.Lease
	eventually(t, 30*time.Second, "the freeze at 4 USD", func() bool {
		s.ovmJSON(&got, "lease", "get", l.ID)
		return got.State == ovm.LeaseFrozen
	})
	if got.Frozen == nil || got.Frozen.Actor != "budget" || len(got.Budget.Acted) != 2 || got.Budget.Acted[1].SpendUSD < 4 {
		t.Fatalf("frozen lease: %+v, budget %+v", got.Frozen, got.Budget)
	}
	code, _, stderr := s.run(nil, "lease", "credentials", l.ID, "-o", "json")
	if code != exitConflict || !strings.Contains(stderr, `"code":"frozen"`) {
		t.Fatalf("credentials of a frozen lease: exit %d, %s", code, stderr)
	}
	out, err := s.ovm("lease", "get", l.ID)
	if err != nil || !strings.Contains(out, "frozen: since") || !strings.Contains(out, "40% freeze at") {
		t.Fatalf("lease get of a frozen lease:\n%s %v", out, err)
	}
	if _, err := s.ovm("lease", "budget", l.ID, "1000"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ovm("lease", "unfreeze", l.ID); err != nil {
		t.Fatal(err)
	}
	if out, err := s.ovm("lease", "credentials", l.ID, "--format", "env"); err != nil || !strings.Contains(out, "AWS_ACCESS_KEY_ID=") {
		t.Fatalf("credentials after the unfreeze: %v\n%s", err, out)
	}
	s.ovmJSON(&got, "lease", "get", l.ID)
	if _, err := s.ovm("lease", "budget", l.ID, "1"); err != nil { // under the spend: the end threshold acts
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the end by budget", func() bool {
		s.ovmJSON(&got, "lease", "get", l.ID)
		return got.State == ovm.LeaseEnded
	})
	if got.EndReason != "budget" {
		t.Fatalf("ended as %q, want budget", got.EndReason)
	}
	eventually(t, 20*time.Second, "the account's retirement", func() bool {
		for _, a := range s.accounts() {
			if a.ID == l.OVMAccountID {
				return a.State == ovm.AccountClosed
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond) // more rounds of the spend worker: nothing acts twice
	// At 1 USD the 20% and 40% thresholds act again (a new limit), then the end.
	if n := s.budgetNotices(l.ID); n[ovm.BudgetNotify] != 2 || n[ovm.BudgetFreeze] != 2 || n[ovm.BudgetEnd] != 1 {
		t.Fatalf("lease.budget notifications by action: %v; want notify and freeze once per limit (10, then 1 USD), end once", n)
	}
	var evs client.Page[client.Event]
	s.ovmJSON(&evs, "lease", "events", l.ID)
	var changed int
	for _, e := range evs.Items {
		if strings.Contains(e.Reason, "budget limit changed from 10.00 USD to 1000.00 USD") && strings.HasPrefix(e.Actor, "key:") {
			changed++
		}
	}
	if changed != 1 {
		t.Fatalf("the admin's budget change is not in the lease's events once: %d", changed)
	}
	if a := s.do("PATCH", "/v1/leases/"+l.ID, s.key, `{"budget_usd": 5, "extend_by": "1h"}`); a.status != 400 {
		t.Fatalf("a budget and an extension at once: %d %s", a.status, a.body)
	}
}

// A lessee's key may not change its lease's budget, nor freeze or
// unfreeze it.
func TestOnlyAnAdminChangesABudgetOrFreezes(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := newServer(t, budgetConfig)
	s.start()
	var k client.Key
	s.ovmJSON(&k, "key", "create", "alice", "--role", "user")
	a := s.do("POST", "/v1/leases", k.Key, `{"wait": "20s"}`)
	var l client.Lease
	if err := json.Unmarshal(a.body, &l); err != nil || a.status != 201 {
		t.Fatalf("vend: %d %s", a.status, a.body)
	}
	for _, r := range []struct{ method, path, body string }{
		{"PATCH", "/v1/leases/" + l.ID, `{"budget_usd": 1000}`},
		{"POST", "/v1/leases/" + l.ID + "/freeze", `{}`},
		{"POST", "/v1/leases/" + l.ID + "/unfreeze", `{}`},
	} {
		if a := s.do(r.method, r.path, k.Key, r.body); a.status != 403 {
			t.Errorf("%s %s by the lessee: %d %s", r.method, r.path, a.status, a.body)
		}
	}
	if a := s.do("POST", "/v1/leases", k.Key, `{"budget_usd": 5}`); a.status != 400 || !strings.Contains(string(a.body), "cannot be changed by its lessees") {
		t.Errorf("a lower limit the pool's budget does not allow: %d %s", a.status, a.body)
	}
	// An admin's hostile values: a limit under a cent, a reason with
	// control characters or too long; NaN on the command line.
	for _, r := range []struct{ method, path, body string }{
		{"PATCH", "/v1/leases/" + l.ID, `{"budget_usd": 1e-300}`},
		{"POST", "/v1/leases/" + l.ID + "/freeze", `{"reason": "line one\nline two"}`},
		{"POST", "/v1/leases/" + l.ID + "/freeze", `{"reason": "\u001b[31mred"}`},
		{"POST", "/v1/leases/" + l.ID + "/freeze", `{"reason": "` + strings.Repeat("é", 513) + `"}`},
	} {
		if a := s.do(r.method, r.path, s.key, r.body); a.status != 400 {
			t.Errorf("%s %s %.40s: %d %s", r.method, r.path, r.body, a.status, a.body)
		}
	}
	if a := s.do("POST", "/v1/leases/"+l.ID+"/freeze", s.key, `{"reason": "`+strings.Repeat("é", 512)+`"}`); a.status != 200 {
		t.Errorf("a reason of 512 characters: %d %s", a.status, a.body)
	}
	for _, args := range [][]string{{"lease", "budget", l.ID, "NaN"}, {"lease", "budget", l.ID, "Inf"}, {"lease", "create", "--budget", "NaN"}} {
		if code, _, stderr := s.run(nil, args...); code != exitUsage {
			t.Errorf("ovm %v: exit %d, %s", args, code, stderr)
		}
	}
}

// kill -9 of the real binary right after a freeze was recorded (and its
// notification written), before AWS was told: the restarted binary puts
// the freeze in place once, and the notification is not sent twice.
func TestKillNineAfterAFreezeIsRecordedFreezesOnce(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := newServer(t, budgetConfig)
	s.start("OVM_TEST_CRASH_POINT=budget.after-act", "OVM_TEST_CRASH_AFTER=2") // the notify, then the freeze
	var l client.Lease
	s.ovmJSON(&l, "lease", "create", "--wait", "20s")
	err := s.waitExit(30 * time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("ended with %v, want SIGKILL at budget.after-act\n%s", err, s.stderr.String())
	}
	s.start()
	var got client.Lease
	eventually(t, 20*time.Second, "the frozen lease after the restart", func() bool {
		s.ovmJSON(&got, "lease", "get", l.ID)
		return got.State == ovm.LeaseFrozen
	})
	time.Sleep(time.Second) // rounds of the restarted worker
	s.kill()
	store, err := sqlitestore.Open(context.Background(), filepath.Join(s.dir, "data", "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cur, err := store.LeaseGet(context.Background(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Frozen == nil || len(cur.Budget.Acted) != 2 {
		t.Fatalf("after the restart: frozen %v, acted %+v", cur.Frozen != nil, cur.Budget.Acted)
	}
	a, err := store.AccountGet(context.Background(), cur.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	if ovm.FrozenDone(a) != l.ID {
		t.Fatalf("the freeze is not in place: %v", a.Progress)
	}
	ds, _, err := store.DeliveryList(context.Background(), &ovm.DeliveryListParams{PageParams: ovm.PageParams{Limit: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		if d.Event.Type == ovm.NotifyLeaseBudget && d.Event.Budget.Action == ovm.BudgetFreeze {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d freeze notifications, want 1", n)
	}
}

// The real binary with a spend cap of 2 USD a day per owner: once the
// owner's lease spent it, a vend is 429 naming the cap and its reset
// (exit code 4), and GET /v1/me shows the cap reached; another owner
// still leases.
func TestTheRealBinaryRefusesAVendPastASpendCap(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := newServer(t, budgetConfig+`
spend_caps:
  - {owner: "*", per: day, usd: 2}
`)
	s.start()
	var l client.Lease
	s.ovmJSON(&l, "lease", "create", "--wait", "20s")
	var me client.Me
	eventually(t, 20*time.Second, "the owner's cap reached", func() bool {
		s.ovmJSON(&l, "lease", "get", l.ID)
		a := s.do("GET", "/v1/me", s.key, "")
		if err := json.Unmarshal(a.body, &me); err != nil || a.status != 200 {
			t.Fatalf("GET /v1/me: %d %s", a.status, a.body)
		}
		return len(me.Caps) == 1 && me.Caps[0].SpentUSD >= 2
	})
	if me.Caps[0].Subject != "admin" || me.Caps[0].Cap.Per != ovm.CapDay || me.Caps[0].ResetsAt.Sub(me.Caps[0].From) != 24*time.Hour {
		t.Fatalf("/v1/me caps: %+v", me.Caps)
	}
	code, _, stderr := s.run(nil, "lease", "create")
	if code != exitConflict || !strings.Contains(stderr, "spend_caps[0]") || !strings.Contains(stderr, "resets at") {
		t.Fatalf("a vend past the cap: exit %d, %s", code, stderr)
	}
	var k client.Key
	s.ovmJSON(&k, "key", "create", "bob", "--role", "user")
	if a := s.do("POST", "/v1/leases", k.Key, `{"wait": "20s"}`); a.status != 201 {
		t.Fatalf("another owner's vend: %d %s", a.status, a.body)
	}
	for _, bad := range []string{"{per: day, usd: 2}", `{owner: "*", per: year, usd: 2}`, `{team: "*", per: week, usd: -1}`} {
		if _, err := loadConfig(writeConfig(t, "spend_caps:\n  - "+bad+"\n")); err == nil || !strings.Contains(err.Error(), "spend_caps[0].") {
			t.Errorf("spend_caps %s: %v", bad, err)
		}
	}
	// A month cap counts ended leases: retention must keep them a month.
	if _, err := loadConfig(writeConfig(t, "retention: {leases: 240h}\nspend_caps:\n  - {owner: \"*\", per: month, usd: 5}\n")); err == nil ||
		!strings.Contains(err.Error(), "spend_caps[0].per") || !strings.Contains(err.Error(), "retention.leases") {
		t.Errorf("a month cap with 10 days of retention: %v", err)
	}
}
