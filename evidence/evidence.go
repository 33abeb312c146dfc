// Package evidence keeps what a provider saw when a step failed: a
// screenshot, the page's HTML and the step's log, one directory per failed
// step under <root>/<account id>/. The sign-up provider writes it with its
// browser; operators read it through the API and the web console.
//
// Names come from the caller's URL, so every read checks them: a record is
// one directory directly under the account's, a file one plain file in it,
// never a path. Reads and writes go through an os.Root of the tree, so no
// link, even one swapped in while a file is read, leads out of it.
package evidence

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/ovmdev/ovm"
)

// Dir is a tree of evidence. The zero value keeps nothing.
type Dir struct {
	// Root holds one directory per account.
	Root string
}

// maxFile bounds what Read returns (a full-page screenshot is a few MiB).
const maxFile = 32 << 20

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Keep writes files as record name of account id (0600, directories 0700),
// within the tree (os.Root): a link planted in it leads no write out.
func (d Dir) Keep(accountID, name string, files map[string][]byte) error {
	rec, err := d.record(accountID, name)
	if err != nil {
		return err
	}
	for f := range files {
		if !safeName.MatchString(f) {
			return fmt.Errorf("evidence: file name %q", f)
		}
	}
	if err := os.MkdirAll(d.Root, 0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(d.Root)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.MkdirAll(rec, 0o700); err != nil {
		return err
	}
	for f, b := range files {
		if err := root.WriteFile(filepath.Join(rec, f), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// List returns account id's records, newest first (names start with the
// time of the failure), with their files. None is not an error. Only
// directories and plain files count, read within the tree (os.Root): an
// account directory that is a link lists nothing.
func (d Dir) List(accountID string) ([]ovm.Evidence, error) {
	if d.Root == "" || !safeName.MatchString(accountID) {
		return nil, nil
	}
	root, err := os.OpenRoot(d.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if st, err := root.Lstat(accountID); err != nil || !st.IsDir() {
		return nil, nil // none, or a link
	}
	entries, err := readDir(root, accountID)
	if err != nil {
		return nil, err
	}
	var out []ovm.Evidence
	for _, e := range entries {
		if !e.IsDir() || !safeName.MatchString(e.Name()) {
			continue
		}
		files, err := readDir(root, filepath.Join(accountID, e.Name()))
		if err != nil {
			return nil, err
		}
		rec := ovm.Evidence{Name: e.Name(), Files: []string{}}
		for _, f := range files {
			if f.Type().IsRegular() && safeName.MatchString(f.Name()) {
				rec.Files = append(rec.Files, f.Name())
			}
		}
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b ovm.Evidence) int { return strings.Compare(b.Name, a.Name) })
	return out, nil
}

// readDir lists directory dir of root, sorted by name.
func readDir(root *os.Root, dir string) ([]fs.DirEntry, error) {
	f, err := root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// beforeOpen, when set (by a test), runs between Read's checks of a path
// and its opening: where a link swapped in would be met.
var beforeOpen func()

// Read returns file of record name of account id. ErrNotFound for any name
// that is not a kept record and file (a path, "..", a link, in the record,
// as the record or as the account's directory). The file is opened within
// the tree (os.Root), which no link leads out of, and is served only if
// what was opened is the plain file the path names once opened: a link
// swapped in for the file meanwhile is never followed, and one swapped in
// for a directory leads nowhere out of the tree.
func (d Dir) Read(accountID, name, file string) ([]byte, error) {
	notFound := fmt.Errorf("evidence %s/%s: %w", name, file, ovm.ErrNotFound)
	rec, err := d.record(accountID, name)
	if err != nil || !safeName.MatchString(file) {
		return nil, notFound
	}
	root, err := os.OpenRoot(d.Root)
	if err != nil {
		return nil, notFound
	}
	defer root.Close()
	p := filepath.Join(rec, file)
	for _, q := range []string{accountID, rec, p} {
		if st, err := root.Lstat(q); err != nil || st.Mode()&fs.ModeSymlink != 0 {
			return nil, notFound
		}
	}
	if beforeOpen != nil {
		beforeOpen()
	}
	f, err := root.Open(p)
	if err != nil {
		return nil, notFound
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, notFound
	}
	// What was opened must be what the path names now, not through a link.
	if now, err := root.Lstat(p); err != nil || !now.Mode().IsRegular() || !os.SameFile(st, now) {
		return nil, notFound
	}
	if st.Size() > maxFile {
		return nil, fmt.Errorf("evidence %s/%s is %d bytes, more than %d", name, file, st.Size(), maxFile)
	}
	return io.ReadAll(io.LimitReader(f, maxFile))
}

// record is the path of record name of account id within the tree.
func (d Dir) record(accountID, name string) (string, error) {
	if d.Root == "" || !safeName.MatchString(accountID) || !safeName.MatchString(name) {
		return "", fmt.Errorf("evidence: record %q of %q: %w", name, accountID, ovm.ErrNotFound)
	}
	return filepath.Join(accountID, name), nil
}
