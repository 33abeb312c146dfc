package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ovmdev/ovm/internal/atomicfile"
)

func TestWriteReplacesTheFileWithItsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "f")
	for _, body := range []string{"one", "two"} {
		if err := atomicfile.Write(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != body {
			t.Fatalf("read %q %v, want %q", got, err, body)
		}
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatal("temporary file left behind")
	}
}
