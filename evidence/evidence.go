// Package evidence keeps what a provider saw when a step failed: a
// screenshot, the page's HTML and the step's log, one directory per failed
// step under <root>/<account id>/. The sign-up provider writes it with its
// browser; operators read it through the API and the web console.
//
// Names come from the caller's URL, so every read checks them: a record is
// one directory directly under the account's, a file one plain file in it,
// never a path.
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

// Keep writes files as record name of account id (0600, directories 0700).
func (d Dir) Keep(accountID, name string, files map[string][]byte) error {
	dir, err := d.record(accountID, name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for f, b := range files {
		if !safeName.MatchString(f) {
			return fmt.Errorf("evidence: file name %q", f)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// List returns account id's records, newest first (names start with the
// time of the failure), with their files. None is not an error.
func (d Dir) List(accountID string) ([]ovm.Evidence, error) {
	if d.Root == "" || !safeName.MatchString(accountID) {
		return nil, nil
	}
	entries, err := os.ReadDir(filepath.Join(d.Root, accountID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []ovm.Evidence
	for _, e := range entries {
		if !e.IsDir() || !safeName.MatchString(e.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(d.Root, accountID, e.Name()))
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

// Read returns file of record name of account id. ErrNotFound for any name
// that is not a kept record and file (a path, "..", a link, in the record
// or as the record): the file is opened within the account's directory
// (os.Root), which no link leads out of.
func (d Dir) Read(accountID, name, file string) ([]byte, error) {
	notFound := fmt.Errorf("evidence %s/%s: %w", name, file, ovm.ErrNotFound)
	if _, err := d.record(accountID, name); err != nil || !safeName.MatchString(file) {
		return nil, notFound
	}
	root, err := os.OpenRoot(filepath.Join(d.Root, accountID))
	if err != nil {
		return nil, notFound
	}
	defer root.Close()
	for _, p := range []string{name, filepath.Join(name, file)} {
		if st, err := root.Lstat(p); err != nil || st.Mode()&fs.ModeSymlink != 0 {
			return nil, notFound
		}
	}
	f, err := root.Open(filepath.Join(name, file))
	if err != nil {
		return nil, notFound
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, notFound
	}
	if st.Size() > maxFile {
		return nil, fmt.Errorf("evidence %s/%s is %d bytes, more than %d", name, file, st.Size(), maxFile)
	}
	return io.ReadAll(io.LimitReader(f, maxFile))
}

func (d Dir) record(accountID, name string) (string, error) {
	if d.Root == "" || !safeName.MatchString(accountID) || !safeName.MatchString(name) {
		return "", fmt.Errorf("evidence: record %q of %q: %w", name, accountID, ovm.ErrNotFound)
	}
	return filepath.Join(d.Root, accountID, name), nil
}
