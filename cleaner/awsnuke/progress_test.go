package awsnuke

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func lines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// progressAfter is the progress after the first n lines of an output.
func progressAfter(out []string, n int) Progress {
	var p parser
	for _, l := range out[:n] {
		p.line(l)
	}
	return p.progress()
}

func TestTheProgressOfARunIsReadFromItsFirstLines(t *testing.T) {
	out := lines(t, "removed.txt")
	for _, c := range []struct {
		name  string
		lines int
		want  Progress
	}{
		{"before the first word", 0, Progress{Phase: PhaseStarting}},
		{"sleeping before the scan", 3, Progress{Phase: PhaseStarting}},
		{"scan begun, nothing found yet", 4, Progress{Phase: PhaseScanning}},
		{"three resources listed", 7, Progress{Phase: PhaseScanning, Found: 3}},
		{"scan complete", 15, Progress{Phase: PhaseScanning, Found: 10}},
		{"removal requested", 30, Progress{Phase: PhaseRemoving, Found: 10, Waiting: 10}},
		{"all removed", 56, Progress{Phase: PhaseRemoving, Found: 10, Removed: 10}},
		{"nuke complete", len(out), Progress{Phase: PhaseDone, Found: 10, Removed: 10}},
	} {
		if got := progressAfter(out, c.lines); got != c.want {
			t.Errorf("%s (%d lines): %+v, want %+v", c.name, c.lines, got, c.want)
		}
	}
}

func TestAScanUnderWayCountsWhatItFoundAndWhatFailedToList(t *testing.T) {
	// The first lines of a real run against moto with no include list.
	out := lines(t, "scanning.txt")
	if got, want := progressAfter(out, len(out)), (Progress{Phase: PhaseScanning, Found: 15, ListErrors: 1}); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
	rep := Parse(strings.NewReader(strings.Join(out, "\n")))
	rep.TimedOut = true
	s := rep.String()
	for _, want := range []string{"found 15, removed 0", "1 resource type failed to list",
		"killed at the clean timeout while scanning (the scan never completed)", "Listing IAMInstanceProfile failed"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %q lacks %q", s, want)
		}
	}
}

func TestAFailedRunEndsDoneWithItsFailure(t *testing.T) {
	out := lines(t, "failed.txt")
	if got, want := progressAfter(out, len(out)), (Progress{Phase: PhaseDone, Found: 1, Failed: 1}); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}

// TestTheStreamReadsWhatParseReads writes an output in small pieces, cut
// anywhere (inside lines too), and checks the report equals Parse's and
// that watch heard every change once, in order.
func TestTheStreamReadsWhatParseReads(t *testing.T) {
	for _, name := range []string{"removed.txt", "failed.txt", "scanning.txt"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var heard []Progress
		s := &stream{pgid: 42, elapsed: func() time.Duration { return time.Second },
			watch: func(p Progress) { heard = append(heard, p) }}
		for rest := data; len(rest) > 0; {
			n := min(7, len(rest))
			s.Write(rest[:n])
			rest = rest[n:]
		}
		got := s.finish()
		want := Parse(strings.NewReader(string(data)))
		want.PGID, want.Tail = 42, got.Tail
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: stream %+v, Parse %+v", name, got, want)
		}
		for i := 1; i < len(heard); i++ {
			if heard[i] == heard[i-1] {
				t.Errorf("%s: told the same progress twice: %+v", name, heard[i])
			}
		}
		if len(heard) == 0 || heard[len(heard)-1].PGID != 42 {
			t.Errorf("%s: heard %+v", name, heard)
		}
		if tail := strings.Split(got.Tail, "\n"); len(tail) > tailLines {
			t.Errorf("%s: tail of %d lines", name, len(tail))
		}
	}
}
