package prices

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// offer is the part of an AWS Price List offer file (the bulk API's
// documented JSON: formatVersion, offerCode, version, publicationDate,
// products by SKU, terms.OnDemand by SKU then offer term) Import reads.
type offer struct {
	FormatVersion   string `json:"formatVersion"`
	OfferCode       string `json:"offerCode"`
	Version         string `json:"version"`
	PublicationDate string `json:"publicationDate"`
	Products        map[string]struct {
		SKU           string            `json:"sku"`
		ProductFamily string            `json:"productFamily"`
		Attributes    map[string]string `json:"attributes"`
	} `json:"products"`
	Terms struct {
		OnDemand map[string]map[string]offerTerm `json:"OnDemand"`
	} `json:"terms"`
}

// offerTerm is one offer term of a SKU, its prices by rate code.
type offerTerm struct {
	PriceDimensions map[string]struct {
		Unit         string            `json:"unit"`
		PricePerUnit map[string]string `json:"pricePerUnit"`
		BeginRange   string            `json:"beginRange"`
	} `json:"priceDimensions"`
}

// Import reads an AWS Price List offer file (AmazonEC2, AmazonRDS,
// AmazonEKS, AmazonSageMaker, AmazonES) and returns the entries OVM uses
// from it; products it does not use are skipped. The source of each entry
// names the offer and its version, the date its publication date.
func Import(r io.Reader) ([]Entry, error) {
	var o offer
	if err := json.NewDecoder(r).Decode(&o); err != nil {
		return nil, fmt.Errorf("not an offer file: %w", err)
	}
	if o.OfferCode == "" || o.Products == nil {
		return nil, fmt.Errorf("not an offer file: no offerCode or products")
	}
	date := o.PublicationDate
	if len(date) >= 10 {
		date = date[:10]
	}
	var out []Entry
	for sku, p := range o.Products {
		typ, size, unit := classify(o.OfferCode, p.ProductFamily, p.Attributes)
		region := p.Attributes["regionCode"]
		if typ == "" || region == "" {
			continue
		}
		usd, ok := onDemand(o.Terms.OnDemand[sku], unit)
		if !ok {
			continue
		}
		e := Entry{Type: typ, Size: size, Region: region, USD: usd, Unit: unit, Date: date,
			Source: fmt.Sprintf("AWS Price List offer %s version %s, sku %s", trim(o.OfferCode), trim(o.Version), trim(sku))}
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("sku %s (%s %s %s): %w", trim(sku), typ, trim(size), trim(region), err)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("offer %s has no on-demand price OVM uses", o.OfferCode)
	}
	return out, nil
}

// classify maps a product to an OVM resource type and size ("" to skip).
func classify(offerCode, family string, a map[string]string) (typ, size, unit string) {
	switch offerCode {
	case "AmazonEC2":
		switch {
		case family == "Compute Instance" && a["operatingSystem"] == "Linux" && a["tenancy"] == "Shared" &&
			a["preInstalledSw"] == "NA" && a["capacitystatus"] == "Used" && a["licenseModel"] == "No License required" &&
			(a["marketoption"] == "" || a["marketoption"] == "OnDemand"):
			return "ec2.instance", a["instanceType"], UnitHour
		case family == "Storage" && a["volumeApiName"] != "":
			return "ebs.volume", a["volumeApiName"], UnitGBMonth
		case family == "NAT Gateway" && strings.HasSuffix(a["usagetype"], "NatGateway-Hours"):
			return "nat.gateway", "", UnitHour
		case family == "Load Balancer-Application" && strings.HasSuffix(a["usagetype"], "LoadBalancerUsage"):
			return "elb.load_balancer", "application", UnitHour
		case family == "Load Balancer-Network" && strings.HasSuffix(a["usagetype"], "LoadBalancerUsage"):
			return "elb.load_balancer", "network", UnitHour
		}
	case "AmazonRDS":
		if family == "Database Instance" && a["databaseEngine"] == "MySQL" && a["deploymentOption"] == "Single-AZ" {
			return "rds.instance", a["instanceType"], UnitHour
		}
	case "AmazonEKS":
		if strings.HasSuffix(a["usagetype"], "AmazonEKS-Hours:perCluster") {
			return "eks.cluster", "", UnitHour
		}
	case "AmazonSageMaker":
		kind := map[string]string{"Notebook": "sagemaker.notebook", "Training": "sagemaker.training", "Hosting": "sagemaker.endpoint"}[a["component"]]
		if kind != "" && strings.HasPrefix(a["instanceType"], "ml.") {
			return kind, a["instanceType"], UnitHour
		}
	case "AmazonES":
		if family == "Amazon OpenSearch Service Instance" || family == "Elastic Search Instance" {
			return "opensearch.domain", a["instanceType"], UnitHour
		}
	}
	return "", "", ""
}

// onDemand is the product's first-tier on-demand price in unit.
func onDemand(terms map[string]offerTerm, unit string) (float64, bool) {
	want := map[string]string{UnitHour: "Hrs", UnitGBMonth: "GB-Mo"}[unit]
	for _, term := range terms {
		for _, d := range term.PriceDimensions {
			if d.Unit != want || (d.BeginRange != "" && d.BeginRange != "0") {
				continue
			}
			usd, err := strconv.ParseFloat(d.PricePerUnit["USD"], 64)
			if err == nil && usd >= 0 {
				return usd, true
			}
		}
	}
	return 0, false
}

// trim keeps what a file says short in entries and errors.
func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
