package escrow

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

func TestBlobClientOnAFileFolder(t *testing.T) {
	c := testCek(t)
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	os.MkdirAll(filepath.Join(store, "a"), 0o700)
	os.WriteFile(filepath.Join(store, "a", "one.bin"), pattern(1000, 1), 0o600)
	src := filepath.Join(dir, "data.csv")
	os.WriteFile(src, pattern(70000, 5), 0o600)
	b, err := OpenBlob((&url.URL{Scheme: "file", Path: store}).String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if skipped, err := b.PutFile("b/two.csv", src, false); err != nil || skipped {
		t.Fatal(err)
	}
	if skipped, err := b.PutFile("b/two.csv", src, true); err != nil || !skipped {
		t.Fatalf("skip same: %v %v", skipped, err)
	}
	items, err := b.List("")
	if err != nil || len(items) != 2 || items[0].Name != "a/one.bin" || items[1].Size != 70000 {
		t.Fatalf("%+v %v", items, err)
	}
	if items, _ := b.List("b/"); len(items) != 1 {
		t.Fatalf("prefix: %+v", items)
	}
	if size, _, err := b.Stat("b/two.csv"); err != nil || size != 70000 {
		t.Fatal(err)
	}
	if got, err := b.Get("a/one.bin", 10, 20); err != nil || !bytes.Equal(got, pattern(1000, 1)[10:30]) {
		t.Fatal(err)
	}
	enc := filepath.Join(dir, "data.csv.bkenc")
	tag, _ := EncryptFile(c, src, enc, FormatV1, &EncryptOptions{Context: Context{Path: "data.csv"}})
	b.PutFile("data.csv.bkenc", enc, false)
	out := filepath.Join(dir, "back.csv")
	if err := b.GetDecryptFile("data.csv.bkenc", c, out, &DecryptOptions{ExpectPath: "data.csv", ExpectHdrtag: tag}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := b.GetDecryptFile("data.csv.bkenc", c, bad, &DecryptOptions{ExpectPath: "other"}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("%v", err)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Fatal("plaintext left behind")
	}
	if _, _, err := b.Stat("missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
	if b.Stats().Requests == 0 {
		t.Fatal("no requests counted")
	}
	if _, err := OpenBlob("file://"+filepath.Join(dir, "nope"), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
}
