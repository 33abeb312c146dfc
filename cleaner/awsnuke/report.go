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
	// Errors are aws-nuke's error lines (why deletions failed).
	Errors   []string      `json:"errors,omitempty"`
	Duration time.Duration `json:"duration"`
	ExitCode int           `json:"exit_code"`
	// Tail is the end of aws-nuke's output, kept as evidence.
	Tail     string `json:"tail,omitempty"`
	TimedOut bool   `json:"timed_out,omitempty"`
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
	if r.TimedOut {
		s += "; killed at the clean timeout"
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
	lineRe  = regexp.MustCompile(`^(\S+) - ([A-Za-z0-9]+) - (.*) - (would remove|waiting|removed|failed|pending|filtered.*)$`)
	errorRe = regexp.MustCompile(`level=error msg="(.*)"$`)
	scanRe  = regexp.MustCompile(`^Scan complete: (\d+) total, (\d+) nukeable, (\d+) filtered\.$`)
)

// Parse reads aws-nuke's output. A resource's last status line decides:
// removed or failed; found counts every resource nuke wanted to remove.
func Parse(r io.Reader) *Report {
	rep := &Report{ByType: map[string]*TypeCount{}}
	last := map[string]string{} // type|id -> status
	scanFiltered := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := errorRe.FindStringSubmatch(line); m != nil {
			// aws-nuke's messages run over many escaped lines (stacks,
			// hex dumps): keep the first, and not too much of it.
			msg, _, _ := strings.Cut(m[1], `\n`)
			msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, `\t`, " ")), " ")
			if len(msg) > 300 {
				msg = msg[:300] + "..."
			}
			if len(rep.Errors) < 20 {
				rep.Errors = append(rep.Errors, msg)
			}
			continue
		}
		if m := scanRe.FindStringSubmatch(line); m != nil {
			scanFiltered, _ = strconv.Atoi(m[3]) // --quiet hides filtered lines, not this count
			continue
		}
		m := lineRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key := m[2] + "|" + m[1] + "|" + m[3]
		if strings.HasPrefix(m[4], "filtered") {
			last[key] = "filtered"
			continue
		}
		last[key] = m[4]
	}
	for key, status := range last {
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
	rep.Filtered = max(rep.Filtered, scanFiltered)
	if len(rep.ByType) == 0 {
		rep.ByType = nil
	}
	return rep
}
