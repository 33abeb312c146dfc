package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovmdev/ovm/client"
	"github.com/ovmdev/ovm/store/sqlitestore"
)

// The embedded default's whole loop on the real binary: a pool whose
// simulated accounts spend sim.spend_per_hour, its CloudTrail-shaped events
// through the queue to the ledger, the lease's spend in the API and the
// CLI, and the report.
func TestTheRealBinaryShowsALeasesSpendGrowing(t *testing.T) {
	t.Parallel() // its own server, data and port: it overlaps the other parallel ones
	s := newServer(t, `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
spend: {interval: 100ms, late_events: 1s}
pools:
  - name: default
    stock: {target: 2, ceiling: 4}
    lease: {default_ttl: 1h, max_ttl: 2h, min_ttl: 1s}
    retry: {base_delay: 100ms, max_delay: 1s}
    sim: {create_latency: 200ms, bootstrap_latency: 100ms, close_latency: 100ms, spend_per_hour: 3600}
`)
	s.start()
	var l client.Lease
	s.ovmJSON(&l, "lease", "create", "--wait", "20s")
	var got client.Lease
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.ovmJSON(&got, "lease", "get", l.ID)
		if got.Spend != nil && got.Spend.USD >= 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.Spend == nil || got.Spend.USD < 1 || got.Spend.BurnUSDPerHour != 3600 {
		t.Fatalf("lease spend %+v: want it growing at 3600 USD/h (1 USD a second)", got.Spend)
	}
	first := got.Spend.USD
	time.Sleep(1500 * time.Millisecond)
	s.ovmJSON(&got, "lease", "get", l.ID)
	if got.Spend.USD <= first {
		t.Fatalf("spend %v then %v: not growing", first, got.Spend.USD)
	}
	out, err := s.ovm("lease", "get", l.ID)
	if err != nil || !strings.Contains(out, "spend: ") || !strings.Contains(out, "burning 3600.0000 USD/h") {
		t.Fatalf("ovm lease get:\n%s (%v)", out, err)
	}
	var rep client.SpendReport
	s.ovmJSON(&rep, "spend", "report", "--group-by", "owner")
	if len(rep.Groups) != 1 || rep.Groups[0].USD <= first || rep.Groups[0].Leases != 1 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := s.ovm("lease", "release", l.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	s.ovmJSON(&got, "lease", "get", l.ID)
	final := got.Spend.USD
	time.Sleep(1500 * time.Millisecond)
	s.ovmJSON(&got, "lease", "get", l.ID)
	if got.Spend.USD != final || got.Spend.BurnUSDPerHour != 0 {
		t.Fatalf("after the release: %v then %+v, want it to stay", final, got.Spend)
	}
}

// ovm prices import reads an offer file into the data directory's table,
// and keeps what an earlier import brought.
func TestPricesImportWritesTheDataDirectorysTable(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ovm.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	offer := func(code, sku string, attrs map[string]string, unit, usd string) string {
		b, _ := json.Marshal(map[string]any{"formatVersion": "v1.0", "offerCode": code, "version": "20261201000000", "publicationDate": "2026-12-01T00:00:00Z",
			"products": map[string]any{sku: map[string]any{"sku": sku, "productFamily": attrs["family"], "attributes": attrs}},
			"terms": map[string]any{"OnDemand": map[string]any{sku: map[string]any{sku + ".JRTCKXETXF": map[string]any{
				"priceDimensions": map[string]any{sku + ".JRTCKXETXF.6YS6EN2CT7": map[string]any{"unit": unit, "beginRange": "0", "pricePerUnit": map[string]string{"USD": usd}}}}}}}})
		path := filepath.Join(dir, code+".json")
		os.WriteFile(path, b, 0o600)
		return path
	}
	ec2 := offer("AmazonEC2", "S1", map[string]string{"family": "Compute Instance", "regionCode": "ap-south-1", "instanceType": "t3.micro",
		"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used", "licenseModel": "No License required"}, "Hrs", "0.0112")
	rds := offer("AmazonRDS", "R1", map[string]string{"family": "Database Instance", "regionCode": "ap-south-1", "instanceType": "db.t3.micro",
		"databaseEngine": "MySQL", "deploymentOption": "Single-AZ"}, "Hrs", "0.021")
	for _, f := range []string{ec2, rds} {
		if out, code := runOVM(t, "prices", "import", "--config", cfg, f); code != 0 || !strings.Contains(out, "1 prices imported") {
			t.Fatalf("import %s: %d\n%s", f, code, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "data", "prices.json"))
	if err != nil || !strings.Contains(string(b), `"db.t3.micro"`) || !strings.Contains(string(b), `"t3.micro"`) {
		t.Fatalf("prices.json after two imports:\n%s (%v)", b, err)
	}
	if out, code := runOVM(t, "prices", "import", "--config", cfg, cfg); code == 0 || !strings.Contains(out, "not an offer file") {
		t.Fatalf("importing a YAML file: %d\n%s", code, out)
	}
}

// runOVM runs the command in this process: its output and exit code.
func runOVM(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(args, &out, &errOut)
	return out.String() + errOut.String(), code
}

func TestABadSpendBlockIsRefusedNamingTheKey(t *testing.T) {
	for body, want := range map[string]string{
		`spend: {queue_url: "ftp://x"}`:                                               "spend.queue_url",
		`spend: {event_bus_arn: "arn:aws:sqs:us-east-1:123456789012:q"}`:              "spend.event_bus_arn",
		`spend: {event_bus_arn: "arn:aws:events:us-east-1:123456789012:event-bus/b"}`: "set spend.queue_url too",
		`spend: {sweep_interval: 10s}`:                                                "spend.sweep_interval",
		`spend: {reconcile_interval: -1h}`:                                            "spend.reconcile_interval",
		`spend: {own_roles: ["a role"]}`:                                              "spend.own_roles[0]",
		`pools: [{name: default, sim: {spend_per_hour: -1}}]`:                         "sim.spend_per_hour",
	} {
		if _, err := loadConfig(writeConfig(t, body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", body, err, want)
		}
	}
	bad := filepath.Join(t.TempDir(), "prices.json")
	os.WriteFile(bad, []byte(`{"prices": [{"type": "ec2.instance", "size": "x", "region": "us-east-1", "usd": 1e308, "unit": "hour", "source": "s"}]}`), 0o600)
	if _, err := loadConfig(writeConfig(t, "spend: {prices_file: "+bad+"}")); err == nil || !strings.Contains(err.Error(), "spend.prices_file") {
		t.Errorf("a price table serve cannot use: %v", err)
	}
}

// kill -9 of the real binary between a ledger's write and the queue's
// acknowledgement: the simulated AWS's queue dies with the process, and the
// restarted feed makes each lease's launch again under the same id; the
// ledger takes it as the redelivery it is.
func TestKillNineAfterASpendWriteCountsNothingTwice(t *testing.T) {
	s := newServer(t, `
engine: {tick: 50ms, claim_ttl: 10s, step_timeout: 5s}
spend: {interval: 100ms, late_events: 1s}
pools:
  - name: default
    stock: {target: 2, ceiling: 4}
    lease: {default_ttl: 1h, max_ttl: 2h, min_ttl: 1s}
    sim: {create_latency: 100ms, bootstrap_latency: 100ms, close_latency: 100ms, spend_per_hour: 3600}
`)
	s.start("OVM_TEST_CRASH_POINT=spend.after-apply", "OVM_TEST_CRASH_AFTER=1")
	var l client.Lease
	s.ovmJSON(&l, "lease", "create", "--wait", "20s")
	err := s.waitExit(20 * time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("ended with %v, want SIGKILL at spend.after-apply\n%s", err, s.stderr.String())
	}
	s.start()
	var got client.Lease
	eventually(t, 20*time.Second, "the spend after the restart", func() bool {
		s.ovmJSON(&got, "lease", "get", l.ID)
		return got.Spend != nil && got.Spend.BurnUSDPerHour == 3600
	})
	time.Sleep(time.Second) // rounds of the restarted worker: the feed's launch came again
	s.kill()
	store, err := sqlitestore.Open(context.Background(), filepath.Join(s.dir, "data", "ovm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	g, err := store.SpendGet(context.Background(), l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Resources) != 1 || len(g.Seen) != 1 || g.Version != 2 {
		t.Fatalf("ledger: %d resources, %d events seen, version %d; want it opened, then the launch written once", len(g.Resources), len(g.Seen), g.Version)
	}
}
