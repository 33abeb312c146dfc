// Package prices is the price table spend is estimated with: on-demand USD
// prices of the resource types OVM follows (docs/spend.md), shipped with
// the binary (table.json, each entry with its source and date) and
// refreshed by an operator from AWS's Price List offer files (Import).
//
// A resource's size is what prices it: an instance type, a volume type and
// size ("gp3:100", GB), an OpenSearch instance type and count
// ("m5.large.search:3"). A size ":N" multiplies the entry's price by N.
package prices

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ovmdev/ovm/internal/atomicfile"
)

// HoursPerMonth converts a monthly price to an hourly one (AWS's own
// convention: 730 hours a month).
const HoursPerMonth = 730

// Entry is one price.
type Entry struct {
	// Type is the resource type (ec2.instance, ebs.volume, nat.gateway,
	// elb.load_balancer, rds.instance, eks.cluster, sagemaker.notebook,
	// sagemaker.training, sagemaker.endpoint, opensearch.domain).
	Type string `json:"type"`
	// Size is the priced size ("" for types with one price).
	Size string `json:"size"`
	// Region is the AWS Region, or "*" for a price that is the same in all.
	Region string  `json:"region"`
	USD    float64 `json:"usd"`
	// Unit is hour or GB-month.
	Unit   string `json:"unit"`
	Source string `json:"source"`
	Date   string `json:"date"`
}

// Units.
const (
	UnitHour    = "hour"
	UnitGBMonth = "GB-month"
)

// Table is a set of prices. The zero Table prices nothing.
type Table struct {
	entries map[string]Entry
}

func entryKey(typ, size, region string) string { return typ + "|" + size + "|" + region }

//go:embed table.json
var shipped []byte

// Default returns the table shipped with the binary.
func Default() *Table {
	t, err := parse(shipped)
	if err != nil {
		panic("prices: the shipped table does not parse: " + err.Error())
	}
	return t
}

type file struct {
	Note   string  `json:"note,omitempty"`
	Prices []Entry `json:"prices"`
}

func parse(b []byte) (*Table, error) {
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not JSON at byte %d: %w", se.Offset, err)
		}
		return nil, err
	}
	t := &Table{entries: map[string]Entry{}}
	for i, e := range f.Prices {
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("prices[%d]: %w", i, err)
		}
		t.entries[entryKey(e.Type, e.Size, e.Region)] = e
	}
	return t, nil
}

func (e Entry) validate() error {
	switch {
	case e.Type == "" || e.Region == "":
		return errors.New("type and region are required")
	case strings.Contains(e.Size, ":"):
		return fmt.Errorf("size %q: a size holds no ':' (a resource's ':N' multiplies it)", e.Size)
	case math.IsNaN(e.USD) || math.IsInf(e.USD, 0):
		return fmt.Errorf("usd %v: not a number", e.USD)
	case e.Unit != UnitHour && e.Unit != UnitGBMonth:
		return fmt.Errorf("unit %q: want hour or GB-month", e.Unit)
	case e.USD < 0 || e.USD > 10000:
		return fmt.Errorf("usd %v: want 0 to 10000", e.USD)
	case e.Source == "":
		return errors.New("source is required")
	}
	return nil
}

// ReadFile returns the entries of a prices file alone (none when it does
// not exist).
func ReadFile(path string) ([]Entry, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("prices file %s: %w", path, err)
	}
	return t.Entries(), nil
}

// Load returns the shipped table with the entries of file path over it (a
// file `ovm prices import` wrote). A missing file is no error.
func Load(path string) (*Table, error) {
	t := Default()
	over, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	t.Merge(over)
	return t, nil
}

// Merge adds entries to t, replacing those of the same type, size and
// Region.
func (t *Table) Merge(entries []Entry) {
	if t.entries == nil {
		t.entries = map[string]Entry{}
	}
	for _, e := range entries {
		t.entries[entryKey(e.Type, e.Size, e.Region)] = e
	}
}

// Entries lists t's entries in a stable order.
func (t *Table) Entries() []Entry {
	out := make([]Entry, 0, len(t.entries))
	for _, e := range t.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		return entryKey(out[i].Type, out[i].Size, out[i].Region) < entryKey(out[j].Type, out[j].Size, out[j].Region)
	})
	return out
}

// Save writes entries as a prices file, whole or not at all (a crash
// leaves the previous file), after checking each.
func Save(path string, entries []Entry, note string) error {
	for i, e := range entries {
		if err := e.validate(); err != nil {
			return fmt.Errorf("prices[%d] (%s %s %s): %w", i, e.Type, e.Size, e.Region, err)
		}
	}
	b, err := json.MarshalIndent(file{Note: note, Prices: entries}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// HourlyUSD is what a resource of type typ and size costs an hour in
// region; ok is false when t has no price for it (the resource is then
// unpriced, never free).
func (t *Table) HourlyUSD(typ, size, region string) (usd float64, ok bool) {
	base, mult := size, 1.0
	if b, n, found := strings.Cut(size, ":"); found {
		v, err := strconv.ParseFloat(n, 64)
		if err != nil || v < 0 {
			return 0, false
		}
		base, mult = b, v
	}
	e, ok := t.entries[entryKey(typ, base, region)]
	if !ok {
		e, ok = t.entries[entryKey(typ, base, "*")]
	}
	if !ok {
		return 0, false
	}
	if e.Unit == UnitGBMonth {
		return e.USD * mult / HoursPerMonth, true
	}
	return e.USD * mult, true
}
