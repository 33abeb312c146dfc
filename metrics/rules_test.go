package metrics_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/ovmdev/ovm/internal/testtool"
)

const rulesDir = "../deploy/prometheus"

// TestTheAlertRulesAreValidAndDoWhatTheySay runs promtool on the shipped
// rules: a syntax and semantics check, and their unit tests (input series
// and the alerts they must and must not raise).
func TestTheAlertRulesAreValidAndDoWhatTheySay(t *testing.T) {
	promtool := testtool.Require(t, "promtool", "apt-get install -y prometheus (make deps)")
	for _, args := range [][]string{{"check", "rules", "ovm-rules.yml"}, {"test", "rules", "ovm-rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestTheAlertRulesUseOnlyExportedMetrics keeps the rules and the code in
// step: every ovm_ metric a rule names is one OVM exports.
func TestTheAlertRulesUseOnlyExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile(rulesDir + "/ovm-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t)
	w.tick(8)
	w.get("/vend")
	w.met.Step("default", "clean", "error", 0) // a cleaning failure, so its counter exists
	exported := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (ovm_\w+) `).FindAllStringSubmatch(w.scrape(), -1) {
		exported[m[1]] = true
	}
	body := regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(string(rules), "") // comments name families
	used := regexp.MustCompile(`ovm_[a-z_]+`).FindAllString(body, -1)
	if len(used) < 8 {
		t.Fatalf("only %d metric names in the rules", len(used))
	}
	for _, name := range used {
		if !exported[name] {
			t.Errorf("the rules use %s, which OVM does not export", name)
		}
	}
}
