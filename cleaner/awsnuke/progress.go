package awsnuke

import (
	"bytes"
	"sync"
	"time"
)

// Phase is where a run of aws-nuke stands.
type Phase string

const (
	// PhaseStarting: aws-nuke checks the account and sleeps --force-sleep
	// before it scans.
	PhaseStarting Phase = "starting"
	// PhaseScanning: aws-nuke lists every resource type of the run, in
	// every region; resources to remove are printed as they are found.
	PhaseScanning Phase = "scanning"
	// PhaseRemoving: the scan is complete; aws-nuke deletes and, every 5 s,
	// checks what is gone.
	PhaseRemoving Phase = "removing"
	// PhaseDone: aws-nuke printed its last word (complete, nothing to
	// delete, or an error).
	PhaseDone Phase = "done"
)

// Progress is how a run under way is going, read from what aws-nuke has
// printed so far.
type Progress struct {
	Phase Phase
	// Found counts the resources to remove found so far: those listed yet
	// while scanning, the scan's count after it.
	Found int
	// Removed, Failed and Waiting are the counts of the last removal round.
	Removed, Failed, Waiting int
	// ListErrors counts the resource types that failed to list so far.
	ListErrors int
	// Elapsed is the time since aws-nuke started.
	Elapsed time.Duration
	// PGID is the run's process group.
	PGID int
}

// tailLines is how many lines of output a report keeps as evidence.
const tailLines = 20

// stream takes aws-nuke's output (stdout and stderr), parses each line as it
// comes and tells watch when the progress changes. It keeps the last lines
// only: the parser has counted the rest.
type stream struct {
	mu      sync.Mutex
	p       parser
	partial []byte
	tail    []string
	watch   func(Progress)
	elapsed func() time.Duration
	pgid    int
	told    Progress // the last progress watch was given, without Elapsed
	// sleep is the run's --force-sleep: aws-nuke prints that it waits,
	// then scans after sleep (scanAt, from the start of the run).
	sleep, scanAt time.Duration
}

// Write implements io.Writer. exec.Cmd calls it from one goroutine when
// Stdout and Stderr are the same *stream.
func (s *stream) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.add(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > maxLine {
		s.add(string(s.partial[:maxLine]))
		s.partial = nil
	}
	if len(s.partial) == 0 {
		s.partial = nil // let the read lines go
	}
	s.notify(false)
	return len(b), nil
}

func (s *stream) add(line string) {
	waits := s.p.waits
	s.p.line(line)
	if waits == 0 && s.p.waits == 1 {
		s.scanAt = s.elapsed() + s.sleep
	}
	if len(line) > 2000 {
		line = line[:2000] + "..."
	}
	s.tail = append(s.tail, line)
	if len(s.tail) > tailLines {
		s.tail = s.tail[len(s.tail)-tailLines:]
	}
}

// notify calls watch when the progress changed since it was last told, or
// always when heartbeat (so it hears of a run that prints nothing). The
// caller holds s.mu: watch calls never overlap.
func (s *stream) notify(heartbeat bool) {
	if s.watch == nil {
		return
	}
	pr := s.progress()
	if pr == s.told && !heartbeat {
		return
	}
	s.told = pr
	pr.Elapsed = s.elapsed()
	s.watch(pr)
}

// progress is the parser's, told by the clock whether aws-nuke still
// sleeps before its scan.
func (s *stream) progress() Progress {
	pr := s.p.progress()
	pr.PGID = s.pgid
	if pr.Phase == PhaseScanning && pr.Found == 0 && pr.ListErrors == 0 && s.elapsed() < s.scanAt {
		pr.Phase = PhaseStarting
	}
	return pr
}

// heartbeat tells watch the progress and the time now.
func (s *stream) heartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notify(true)
}

// finish reads what is left of the last line and returns the report.
func (s *stream) finish() *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		s.add(string(s.partial))
		s.partial = nil
	}
	rep := s.p.report()
	rep.Phase = s.progress().Phase
	rep.Tail = joinLines(s.tail)
	rep.PGID = s.pgid
	return rep
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	return b.String()
}
