package evidence_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/evidence"
)

func TestRecordsAreListedNewestFirstAndRead(t *testing.T) {
	d := evidence.Dir{Root: t.TempDir()}
	for _, name := range []string{"20261201T010000.000-signup-card", "20261201T020000.000-signup-phone"} {
		if err := d.Keep("acc_1", name, map[string][]byte{"screenshot.jpg": []byte(name), "step.log": []byte("log")}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := d.List("acc_1")
	if err != nil || len(recs) != 2 || recs[0].Name != "20261201T020000.000-signup-phone" || len(recs[0].Files) != 2 {
		t.Fatalf("list: %+v %v", recs, err)
	}
	b, err := d.Read("acc_1", recs[1].Name, "screenshot.jpg")
	if err != nil || string(b) != recs[1].Name {
		t.Fatalf("read: %q %v", b, err)
	}
	if recs, err := d.List("acc_none"); err != nil || len(recs) != 0 {
		t.Fatalf("an account without evidence: %v %v", recs, err)
	}
}

// Names come from URLs: nothing outside a record's own files is read.
func TestOnlyKeptFilesAreRead(t *testing.T) {
	root := t.TempDir()
	d := evidence.Dir{Root: filepath.Join(root, "evidence")}
	if err := d.Keep("acc_1", "rec", map[string][]byte{"page.html": []byte("<p>")}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "secret"), []byte("s3cr3t"), 0o600)
	os.Symlink(filepath.Join(root, "secret"), filepath.Join(root, "evidence", "acc_1", "rec", "link"))
	// A record that is a link to another directory is not followed either.
	os.MkdirAll(filepath.Join(root, "elsewhere"), 0o700)
	os.WriteFile(filepath.Join(root, "elsewhere", "page.html"), []byte("s3cr3t"), 0o600)
	os.Symlink(filepath.Join(root, "elsewhere"), filepath.Join(root, "evidence", "acc_1", "linked"))
	for _, c := range [][3]string{
		{"acc_1", "rec", "../../../secret"}, {"acc_1", "..", "secret"}, {"..", "evidence", "secret"},
		{"acc_1", "rec", "link"}, {"acc_1", "linked", "page.html"}, {"acc_1", "rec", "missing"}, {"acc_1", "rec/..", "page.html"}, {"acc_1", "rec", ""},
	} {
		if b, err := d.Read(c[0], c[1], c[2]); !errors.Is(err, ovm.ErrNotFound) {
			t.Errorf("Read%q = %q, %v; want ErrNotFound", c, b, err)
		}
	}
	if err := d.Keep("acc_1", "rec", map[string][]byte{"../x": nil}); err == nil {
		t.Error("Keep wrote a path")
	}
}
