package prices_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovmdev/ovm/spend/prices"
)

func TestTheShippedTableCoversEveryFollowedTypeWithSources(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range prices.Default().Entries() {
		if e.Source == "" || len(e.Date) != 10 {
			t.Errorf("%+v: no source or date", e)
		}
		seen[e.Type] = true
	}
	for _, typ := range []string{"ec2.instance", "ebs.volume", "nat.gateway", "elb.load_balancer", "rds.instance", "eks.cluster",
		"sagemaker.notebook", "sagemaker.training", "sagemaker.endpoint", "opensearch.domain"} {
		if !seen[typ] {
			t.Errorf("the shipped table prices no %s", typ)
		}
	}
}

func TestHourlyPrices(t *testing.T) {
	tab := prices.Default()
	for _, c := range []struct {
		typ, size, region string
		want              float64
		ok                bool
	}{
		{"ec2.instance", "t3.micro", "us-east-1", 0.0104, true},
		{"ebs.volume", "gp3:100", "us-east-1", 0.08 * 100 / 730, true},
		{"opensearch.domain", "m5.large.search:3", "us-east-1", 0.142 * 3, true},
		{"eks.cluster", "", "ap-southeast-2", 0.10, true}, // one price everywhere
		{"ec2.instance", "t3.micro", "ap-south-1", 0, false},
		{"ec2.instance", "x99.huge", "us-east-1", 0, false},
		{"ebs.volume", "gp3:lots", "us-east-1", 0, false},
	} {
		got, ok := tab.HourlyUSD(c.typ, c.size, c.region)
		if ok != c.ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s %s %s: %v %v, want %v %v", c.typ, c.size, c.region, got, ok, c.want, c.ok)
		}
	}
}

// offerFile writes a small file in the Price List bulk offer format.
func offerFile(t *testing.T, code string, products map[string]map[string]any, prices map[string][2]string) string {
	onDemand := map[string]any{}
	for sku, p := range prices {
		onDemand[sku] = map[string]any{sku + ".JRTCKXETXF": map[string]any{
			"offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z", "termAttributes": map[string]any{},
			"priceDimensions": map[string]any{sku + ".JRTCKXETXF.6YS6EN2CT7": map[string]any{
				"rateCode": sku + ".JRTCKXETXF.6YS6EN2CT7", "description": "test", "beginRange": "0", "endRange": "Inf",
				"unit": p[0], "pricePerUnit": map[string]string{"USD": p[1]}, "appliesTo": []string{}}}}}
	}
	b, _ := json.Marshal(map[string]any{"formatVersion": "v1.0", "disclaimer": "test", "offerCode": code, "version": "20261101000000",
		"publicationDate": "2026-11-01T00:00:00Z", "products": products, "terms": map[string]any{"OnDemand": onDemand}})
	path := filepath.Join(t.TempDir(), code+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func ec2Product(sku, typ, os, market string) map[string]any {
	return map[string]any{"sku": sku, "productFamily": "Compute Instance", "attributes": map[string]string{
		"servicecode": "AmazonEC2", "regionCode": "ap-south-1", "instanceType": typ, "operatingSystem": os, "tenancy": "Shared",
		"preInstalledSw": "NA", "capacitystatus": "Used", "licenseModel": "No License required", "marketoption": market,
		"usagetype": "APS3-BoxUsage:" + typ}}
}

func TestImportReadsAnOfferFileAndSkipsWhatItDoesNotPrice(t *testing.T) {
	path := offerFile(t, "AmazonEC2", map[string]map[string]any{
		"LINUX1": ec2Product("LINUX1", "t3.micro", "Linux", "OnDemand"),
		"WIN1":   ec2Product("WIN1", "t3.micro", "Windows", "OnDemand"),
		"CB1":    ec2Product("CB1", "t3.micro", "Linux", "CapacityBlock"),
		"VOL1":   {"sku": "VOL1", "productFamily": "Storage", "attributes": map[string]string{"regionCode": "ap-south-1", "volumeApiName": "gp3"}},
		"FREE":   {"sku": "FREE", "productFamily": "Compute Instance", "attributes": map[string]string{"regionCode": ""}},
	}, map[string][2]string{"LINUX1": {"Hrs", "0.0112000000"}, "WIN1": {"Hrs", "0.0204000000"}, "CB1": {"Hrs", "0.0000000000"},
		"VOL1": {"GB-Mo", "0.0912000000"}, "FREE": {"Hrs", "0"}})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := prices.Import(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("imported %+v, want the Linux instance and the volume", entries)
	}
	tab := prices.Default()
	if _, ok := tab.HourlyUSD("ec2.instance", "t3.micro", "ap-south-1"); ok {
		t.Fatal("the shipped table already prices ap-south-1: the test shows nothing")
	}
	tab.Merge(entries)
	if got, _ := tab.HourlyUSD("ec2.instance", "t3.micro", "ap-south-1"); got != 0.0112 {
		t.Fatalf("imported t3.micro %v, want the Linux price 0.0112", got)
	}
	if got, _ := tab.HourlyUSD("ebs.volume", "gp3:730", "ap-south-1"); math.Abs(got-0.0912) > 1e-9 {
		t.Fatalf("imported gp3 %v an hour for 730 GB, want 0.0912", got)
	}
	for _, e := range entries {
		if !strings.Contains(e.Source, "AmazonEC2 version 20261101000000") || e.Date != "2026-11-01" {
			t.Fatalf("entry %+v does not name its offer", e)
		}
	}
	saved := filepath.Join(t.TempDir(), "prices.json")
	if err := prices.Save(saved, entries, "test"); err != nil {
		t.Fatal(err)
	}
	loaded, err := prices.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := loaded.HourlyUSD("ec2.instance", "t3.micro", "ap-south-1"); got != 0.0112 {
		t.Fatal("a saved import is not loaded over the shipped table")
	}
	if got, _ := loaded.HourlyUSD("ec2.instance", "t3.micro", "us-east-1"); got != 0.0104 {
		t.Fatal("loading an import lost the shipped entries")
	}
}

func TestImportRefusesWhatIsNotAnOfferFile(t *testing.T) {
	for _, body := range []string{`{"products": {}}`, `not json`, `{"offerCode": "AmazonEC2", "products": {}}`} {
		if _, err := prices.Import(strings.NewReader(body)); err == nil {
			t.Errorf("%s: imported", body)
		}
	}
}

func TestImportRefusesAPriceItCouldNotUse(t *testing.T) {
	for _, usd := range []string{"1e308", "Inf", "NaN", "-1"} {
		path := offerFile(t, "AmazonEC2", map[string]map[string]any{"S": ec2Product("S", "t3.micro", "Linux", "OnDemand")},
			map[string][2]string{"S": {"Hrs", usd}})
		f, _ := os.Open(path)
		_, err := prices.Import(f)
		f.Close()
		if err == nil && usd != "-1" && usd != "NaN" {
			t.Errorf("a price of %s imported", usd)
		}
		if err != nil && !strings.Contains(err.Error(), "sku S") && !strings.Contains(err.Error(), "no on-demand price") {
			t.Errorf("%s: %v does not name the SKU", usd, err)
		}
	}
	path := offerFile(t, "AmazonEC2", map[string]map[string]any{"S": ec2Product("S", "m5.large:9", "Linux", "OnDemand")},
		map[string][2]string{"S": {"Hrs", "0.1"}})
	f, _ := os.Open(path)
	defer f.Close()
	if _, err := prices.Import(f); err == nil {
		t.Error("a size with ':' imported")
	}
}
