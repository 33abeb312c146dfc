package awsnuke

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/testtool"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s differs from the golden file:\n%s", name, got)
	}
}

func TestGeneratedConfigs(t *testing.T) {
	base := Params{Target: "210987654321", Management: "123456789012", Protected: []string{"111111111111"},
		Regions: []string{"global", "eu-west-1"}, ProtectRoles: []string{"OVMCrossAccountRole", "OrganizationAccountAccessRole"}}
	aws := base
	aws.Exclude = []string{"S3Object"}
	golden(t, "aws", must(Generate(aws)))

	moto := base
	moto.Endpoint, moto.Include = "http://127.0.0.1:5000", []string{"IAMUser", "SQSQueue"}
	golden(t, "moto", must(Generate(moto)))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestTheSafetyRulesHold(t *testing.T) {
	ok := Params{Target: "210987654321", Management: "123456789012", Regions: []string{"us-east-1"}}
	conf := string(must(Generate(ok)))
	if !strings.Contains(conf, "account-blocklist:\n  - \"123456789012\"") {
		t.Fatalf("the management account is not blocklisted:\n%s", conf)
	}
	if strings.Count(conf, "123456789012") != 1 {
		t.Fatalf("the management account appears outside the blocklist:\n%s", conf)
	}
	bad := map[string]func(*Params){
		"the management account as target": func(p *Params) { p.Target = p.Management },
		"a protected account as target":    func(p *Params) { p.Protected = []string{p.Target} },
		"no management account":            func(p *Params) { p.Management = "" },
		"a malformed target":               func(p *Params) { p.Target = "12345" },
		"a malformed protected account":    func(p *Params) { p.Protected = []string{"prod"} },
		"no regions":                       func(p *Params) { p.Regions = nil },
		"a bad region":                     func(p *Params) { p.Regions = []string{"mars-1"} },
		"a bad resource type":              func(p *Params) { p.Include = []string{"IAM User; rm -rf"} },
		"a bad endpoint":                   func(p *Params) { p.Endpoint = "not a url" },
	}
	for name, mod := range bad {
		p := ok
		mod(&p)
		if _, err := Generate(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseARealRun(t *testing.T) {
	f, _ := os.Open("testdata/removed.txt")
	defer f.Close()
	r := Parse(f)
	if r.Found != 10 || r.Removed != 10 || r.Failed != 0 || r.Filtered != 2 || !r.OK() || r.Clean() {
		t.Fatalf("report %+v", r)
	}
	if c := r.ByType["IAMUser"]; c == nil || c.Removed != 1 {
		t.Fatalf("IAMUser %+v", c)
	}
	if !strings.Contains(r.String(), "SQSQueue 1/1/0") {
		t.Fatalf("summary %q", r.String())
	}
}

func TestParseAFailedRun(t *testing.T) {
	f, _ := os.Open("testdata/failed.txt")
	defer f.Close()
	r := Parse(f)
	r.ExitCode = 255
	if r.Found != 1 || r.Failed != 1 || r.OK() || len(r.Errors) == 0 || !strings.Contains(r.String(), "DeleteConflict") {
		t.Fatalf("report %+v %q", r, r.String())
	}
}

func TestParseNothingToDo(t *testing.T) {
	r := Parse(strings.NewReader("Scan complete: 2 total, 0 nukeable, 2 filtered.\n\nNo resource to delete.\n"))
	if !r.Clean() || r.Found != 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestWithAnEndpointTheDefaultIsTheTypesMotoCanList(t *testing.T) {
	for _, c := range []struct {
		name     string
		include  []string
		endpoint string
		want     []string
	}{
		{"AWS, no list: every type", nil, "", nil},
		{"moto, no list: the verified types", nil, "http://127.0.0.1:5000", MotoTypes},
		{"AWS, a list: the list", []string{"IAMUser"}, "", []string{"IAMUser"}},
		{"moto, a list: the list", []string{"IAMUser"}, "http://127.0.0.1:5000", []string{"IAMUser"}},
	} {
		p := Config{Include: c.include}.Params("210987654321", "123456789012", "us-east-1", c.endpoint)
		if strings.Join(p.Include, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: include %v, want %v", c.name, p.Include, c.want)
		}
	}
}

func TestValidationRefusesResourceTypesAWSNukeDoesNotKnow(t *testing.T) {
	testtool.Require(t, "aws-nuke", "make deps installs it (apt-get install -y aws-nuke)")
	if err := (Config{Include: MotoTypes, Exclude: []string{"S3Object"}}).Validate("us-east-1", ""); err != nil {
		t.Fatalf("known types refused: %v", err)
	}
	for field, c := range map[string]Config{
		"nuke.include": {Include: []string{"IAMUser", "IAMUsers"}}, // a typo would scan nothing and look clean
		"nuke.exclude": {Exclude: []string{"s3object"}},
	} {
		err := c.Validate("us-east-1", "")
		var fe *ovm.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v", field, err)
		}
	}
}
