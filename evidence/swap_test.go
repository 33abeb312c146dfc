package evidence

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ovmdev/ovm"
)

// tree is an evidence tree under a temporary directory that also holds
// a secret outside the tree and a directory outside it shaped like a
// record.
type tree struct {
	t       *testing.T
	dir     Dir
	outside string // a directory beside the tree
	secret  string // a file outside the tree
}

func newTree(t *testing.T) *tree {
	base := t.TempDir()
	tr := &tree{t: t, dir: Dir{Root: filepath.Join(base, "evidence")}, outside: filepath.Join(base, "outside"),
		secret: filepath.Join(base, "secret")}
	for _, rec := range []string{"rec", "other"} {
		if err := tr.dir.Keep("acc_1", rec, map[string][]byte{"page.html": []byte("<p>" + rec)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(tr.secret, []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tr.outside, "rec"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tr.outside, "rec", "page.html"), []byte("s3cr3t"), 0o600); err != nil {
		t.Fatal(err)
	}
	return tr
}

func (tr *tree) path(elem ...string) string {
	return filepath.Join(append([]string{tr.dir.Root}, elem...)...)
}

// swap replaces what is at path by a link to target, in one rename.
func (tr *tree) swap(path, target string) {
	tmp := path + ".swap"
	if err := os.Symlink(target, tmp); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		// A directory cannot be renamed over: move it aside first.
		if err := os.Rename(path, path+".aside"); err != nil {
			tr.t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			tr.t.Fatal(err)
		}
	}
}

func (tr *tree) wantNotServed(b []byte, err error, what string) {
	tr.t.Helper()
	if strings.Contains(string(b), "s3cr3t") {
		tr.t.Fatalf("%s: the file outside the tree was served", what)
	}
	if !errors.Is(err, ovm.ErrNotFound) {
		tr.t.Errorf("%s: %q, %v; want ErrNotFound", what, b, err)
	}
}

func TestALinkSwappedInAfterTheListIsNotFollowed(t *testing.T) {
	tr := newTree(t)
	recs, err := tr.dir.List("acc_1")
	if err != nil || len(recs) != 2 {
		t.Fatalf("list: %+v %v", recs, err)
	}
	tr.swap(tr.path("acc_1", "rec", "page.html"), tr.secret)
	b, err := tr.dir.Read("acc_1", "rec", "page.html")
	tr.wantNotServed(b, err, "the file swapped for a link")
}

// Read's checks pass on the plain file; the link arrives between them and
// the opening (beforeOpen), the window a racing writer would use.
func TestALinkSwappedInBetweenTheChecksAndTheOpeningIsNotFollowed(t *testing.T) {
	for _, c := range []struct {
		name   string
		swap   []string // the path under the tree to replace
		target func(tr *tree) string
	}{
		{"the file, for a link to a file outside", []string{"acc_1", "rec", "page.html"},
			func(tr *tree) string { return tr.secret }},
		{"the file, for a relative link out of the tree", []string{"acc_1", "rec", "page.html"},
			func(tr *tree) string { return "../../../secret" }},
		{"the file, for a link to another record's file", []string{"acc_1", "rec", "page.html"},
			func(tr *tree) string { return "../other/page.html" }},
		{"the record, for a link to a directory outside", []string{"acc_1", "rec"},
			func(tr *tree) string { return filepath.Join(tr.outside, "rec") }},
		{"the account, for a link to a directory outside", []string{"acc_1"},
			func(tr *tree) string { return tr.outside }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := newTree(t)
			beforeOpen = func() { tr.swap(tr.path(c.swap...), c.target(tr)) }
			defer func() { beforeOpen = nil }()
			b, err := tr.dir.Read("acc_1", "rec", "page.html")
			tr.wantNotServed(b, err, c.name)
		})
	}
}

func TestAnAccountDirectoryThatIsALinkHoldsNoEvidence(t *testing.T) {
	tr := newTree(t)
	if err := os.Symlink(tr.outside, tr.path("acc_2")); err != nil {
		t.Fatal(err)
	}
	if recs, err := tr.dir.List("acc_2"); err != nil || len(recs) != 0 {
		t.Errorf("list through the link: %+v %v", recs, err)
	}
	b, err := tr.dir.Read("acc_2", "rec", "page.html")
	tr.wantNotServed(b, err, "read through the account's link")
	// Keep does not write through it either.
	if err := tr.dir.Keep("acc_2", "rec", map[string][]byte{"new.log": []byte("x")}); err == nil {
		if _, err := os.Stat(filepath.Join(tr.outside, "rec", "new.log")); err == nil {
			t.Error("Keep wrote outside the tree")
		}
	}
}

// A writer flips the file between itself and a link out of the tree as
// fast as it can while readers read it: the outside file is never served.
// (The window is hit or not by chance; the test above hits it always.)
func TestReadsRacingALinkSwapNeverServeTheOutside(t *testing.T) {
	tr := newTree(t)
	file := tr.path("acc_1", "rec", "page.html")
	plain := file + ".plain"
	if err := os.WriteFile(plain, []byte("<p>rec"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			tmp := file + ".tmp"
			if i%2 == 0 {
				os.Symlink(tr.secret, tmp)
			} else {
				os.Link(plain, tmp)
			}
			os.Rename(tmp, file)
		}
	}()
	served, refused := 0, 0
	for range 5000 {
		b, err := tr.dir.Read("acc_1", "rec", "page.html")
		if strings.Contains(string(b), "s3cr3t") {
			stop.Store(true)
			wg.Wait()
			t.Fatal("the file outside the tree was served")
		}
		if err == nil {
			served++
		} else {
			refused++
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("5000 reads racing the swap: %d served the record's own file, %d refused", served, refused)
}
