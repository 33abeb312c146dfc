// Package atomicfile writes files so that a reader, or the next start after
// a crash, sees either the old content or the new one, never a torn write.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path with mode: into a temporary file in the same
// directory, fsynced, then renamed over path.
func Write(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
