// Package testtool lets a test require an external program: missing, the
// test is skipped on a developer's machine but fails when CI=true, so CI
// never silently skips what it must run.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Require returns the path of program name, or skips (fails under CI=true)
// with a hint on how to install it.
func Require(t testing.TB, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	return Found(t, name, hint, path, err)
}

// Found applies the same rule to a program found another way: it returns
// path when err is nil, else skips t (fails it under CI=true).
func Found(t testing.TB, name, hint, path string, err error) string {
	t.Helper()
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed, and CI=true: %s", name, hint)
	}
	t.Skipf("%s is not installed (%s)", name, hint)
	return ""
}
