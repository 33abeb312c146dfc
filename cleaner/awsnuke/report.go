package awsnuke

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Report is what one aws-nuke run found and did.
type Report struct {
	Found    int                   `json:"found"` // resources to remove at the scan
	Removed  int                   `json:"removed"`
	Failed   int                   `json:"failed"`
	Filtered int                   `json:"filtered"` // kept by the configuration (OVM's own)
	ByType   map[string]*TypeCount `json:"by_type,omitempty"`
	// Errors are aws-nuke's error lines (why deletions failed, which
	// resource types failed to list), the first 20.
	Errors []string `json:"errors,omitempty"`
	// ListErrors counts the resource types that failed to list: aws-nuke
	// goes on without them, so their resources were not looked for.
	ListErrors int           `json:"list_errors,omitempty"`
	Duration   time.Duration `json:"duration"`
	ExitCode   int           `json:"exit_code"`
	// Tail is the end of aws-nuke's output, kept as evidence.
	Tail     string `json:"tail,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
	// Phase is where the run was when it ended: PhaseDone, or the phase a
	// timeout (or aws-nuke's death) cut short.
	Phase Phase `json:"phase"`
	// PGID is the process group the run had (its own); by the time Run
	// returns, no process is left in it.
	PGID int `json:"-"`
}

// TypeCount counts one resource type.
type TypeCount struct {
	Found   int `json:"found"`
	Removed int `json:"removed"`
	Failed  int `json:"failed"`
}

// Clean reports whether the run succeeded and found nothing to remove.
func (r *Report) Clean() bool { return r.OK() && r.Found == 0 }

// OK reports whether the run ended normally with no failed deletion.
func (r *Report) OK() bool { return !r.TimedOut && r.ExitCode == 0 && r.Failed == 0 }

// String is a one-line summary for the event log.
func (r *Report) String() string {
	var types []string
	for t := range r.ByType {
		types = append(types, t)
	}
	sort.Strings(types)
	var parts []string
	for _, t := range types {
		c := r.ByType[t]
		parts = append(parts, fmt.Sprintf("%s %d/%d/%d", t, c.Found, c.Removed, c.Failed))
	}
	s := fmt.Sprintf("aws-nuke: found %d, removed %d, failed %d, kept %d in %s", r.Found, r.Removed, r.Failed,
		r.Filtered, r.Duration.Round(time.Second))
	if len(parts) > 0 {
		s += " (found/removed/failed: " + strings.Join(parts, ", ") + ")"
	}
	if r.ListErrors > 0 {
		s += "; " + TypesFailedToList(r.ListErrors)
	}
	if r.TimedOut {
		s += "; killed at the clean timeout while " + string(r.Phase)
		if r.Phase == PhaseScanning {
			s += " (the scan never completed)"
		}
	} else if r.ExitCode != 0 {
		s += fmt.Sprintf("; exit code %d", r.ExitCode)
	}
	if len(r.Errors) > 0 {
		s += "; last error: " + r.Errors[len(r.Errors)-1]
	}
	return s
}

// A resource line: "<region> - <Type> - <id and properties> - <status>".
var (
	lineRe    = regexp.MustCompile(`^(\S+) - ([A-Za-z0-9]+) - (.*) - (would remove|waiting|removed|failed|pending|filtered.*)$`)
	errorRe   = regexp.MustCompile(`level=error msg="(.*)"$`)
	scanRe    = regexp.MustCompile(`^Scan complete: (\d+) total, (\d+) nukeable, (\d+) filtered\.$`)
	waitRe    = regexp.MustCompile(`^Waiting \S+ before continuing\.$`)
	removalRe = regexp.MustCompile(`^Removal requested: (\d+) waiting, (\d+) failed, (\d+) skipped, (\d+) finished$`)
	doneRe    = regexp.MustCompile(`^(Nuke complete: |No resource to delete\.|Error: )`)
)

// maxLine bounds one line of output; the rest of a longer line is dropped.
const maxLine = 1024 * 1024

// Parse reads aws-nuke's output. A resource's last status line decides:
// removed or failed; found counts every resource nuke wanted to remove.
func Parse(r io.Reader) *Report {
	var p parser
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	for sc.Scan() {
		p.line(sc.Text())
	}
	return p.report()
}

// parser reads aws-nuke's output one line at a time: the progress of a run
// under way after each line, the report at the end.
type parser struct {
	last         map[string]string // type|region|id -> last status
	found        int               // resources to remove listed so far
	scanFound    int               // the scan's own count, once complete
	scanFiltered int               // --quiet hides filtered lines, not this count
	scanned      bool
	waits        int // "Waiting 3s before continuing." lines: one before the scan, one before removal
	removal      [4]int
	done         bool
	listErrors   int
	errors       []string
}

// line reads one line of output.
func (p *parser) line(line string) {
	line = strings.TrimSpace(line)
	if m := errorRe.FindStringSubmatch(line); m != nil {
		// aws-nuke's messages run over many escaped lines (stacks,
		// hex dumps): keep the first, and not too much of it.
		msg, _, _ := strings.Cut(m[1], `\n`)
		msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, `\t`, " ")), " ")
		if strings.HasPrefix(msg, "Listing ") {
			p.listErrors++
		}
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		if len(p.errors) < 20 {
			p.errors = append(p.errors, msg)
		}
		return
	}
	if m := lineRe.FindStringSubmatch(line); m != nil {
		if p.last == nil {
			p.last = map[string]string{}
		}
		key := m[2] + "|" + m[1] + "|" + m[3]
		status := m[4]
		if strings.HasPrefix(status, "filtered") {
			status = "filtered"
		}
		if _, seen := p.last[key]; !seen && status != "filtered" {
			p.found++
		}
		p.last[key] = status
		return
	}
	if m := scanRe.FindStringSubmatch(line); m != nil {
		p.scanned = true
		p.scanFound, _ = strconv.Atoi(m[2])
		p.scanFiltered, _ = strconv.Atoi(m[3])
		return
	}
	if m := removalRe.FindStringSubmatch(line); m != nil {
		for i := range p.removal {
			p.removal[i], _ = strconv.Atoi(m[i+1])
		}
		return
	}
	switch {
	case waitRe.MatchString(line):
		p.waits++
	case doneRe.MatchString(line):
		p.done = true
	}
}

// progress is how the run is going after the lines read so far.
func (p *parser) progress() Progress {
	pr := Progress{Phase: PhaseStarting, Found: p.found, ListErrors: p.listErrors}
	switch {
	case p.done:
		pr.Phase = PhaseDone
	case p.waits >= 2:
		pr.Phase = PhaseRemoving
	case p.waits == 1:
		pr.Phase = PhaseScanning
	}
	if p.scanned {
		pr.Found = p.scanFound
	}
	pr.Waiting, pr.Failed, pr.Removed = p.removal[0], p.removal[1], p.removal[3]
	return pr
}

// report is what the output read says the run found and did.
func (p *parser) report() *Report {
	rep := &Report{ByType: map[string]*TypeCount{}, Errors: p.errors, ListErrors: p.listErrors, Phase: p.progress().Phase}
	for key, status := range p.last {
		typ := strings.SplitN(key, "|", 2)[0]
		if status == "filtered" {
			rep.Filtered++
			continue
		}
		c := rep.ByType[typ]
		if c == nil {
			c = &TypeCount{}
			rep.ByType[typ] = c
		}
		c.Found++
		rep.Found++
		switch status {
		case "removed":
			c.Removed++
			rep.Removed++
		case "failed":
			c.Failed++
			rep.Failed++
		}
	}
	rep.Filtered = max(rep.Filtered, p.scanFiltered)
	if len(rep.ByType) == 0 {
		rep.ByType = nil
	}
	return rep
}

// TypesFailedToList says that n resource types failed to list.
func TypesFailedToList(n int) string {
	if n == 1 {
		return "1 resource type failed to list"
	}
	return fmt.Sprintf("%d resource types failed to list", n)
}
