package testtool

import (
	"os"
	"testing"
	"time"
)

// BrowserDir returns a temporary directory for browser profiles. Chromium's
// helper processes may still write into a profile for a moment after the
// browser is closed, which makes t.TempDir's cleanup fail; this directory is
// removed after every other cleanup, retrying for a few seconds (kept when
// OVM_KEEP_TEST_DIRS is set, to read evidence).
func BrowserDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "ovm-browser-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("OVM_KEEP_TEST_DIRS") != "" {
			t.Logf("kept %s (OVM_KEEP_TEST_DIRS)", dir)
			return
		}
		for i := 0; i < 40; i++ {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Logf("could not remove %s", dir)
	})
	return dir
}
