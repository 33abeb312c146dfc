package testtool

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// npmHint is how the npm tools the tests use get installed.
const npmHint = "make deps installs it (npm ci in tools/npm, pinned by its package-lock.json)"

// NPMFile returns the path of a file of the repository's pinned npm tools,
// rel under tools/npm/node_modules ("axe-core/axe.min.js",
// ".bin/spectral"), or skips t (fails it under CI=true) when make deps has
// not installed them.
func NPMFile(t testing.TB, rel string) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "tools", "npm", "node_modules", filepath.FromSlash(rel))
	_, err = os.Stat(p)
	return Found(t, "tools/npm/node_modules/"+rel, npmHint, p, err)
}

// repoRoot is the directory of go.mod above the test's working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
