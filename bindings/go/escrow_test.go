package escrow

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*31 + seed) % 251)
	}
	return b
}

func testCek(t testing.TB) *Cek {
	c, err := GenerateCek()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRoundTripWithContextAndHeader(t *testing.T) {
	c := testCek(t)
	pt := pattern(200000, 1)
	ctx := Context{ProjectID: "p1", Role: "ds", Asset: "a@v1", Path: "dir/x.csv", KeyID: "v1"}
	ct, err := Encrypt(c, pt, &EncryptOptions{Log2CS: 14, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	if DetectFormat(ct) != FormatV1 {
		t.Fatal("not detected as v1")
	}
	h, err := ParseHeader(ct)
	if err != nil || h.Log2CS != 14 || h.Context != ctx {
		t.Fatalf("header %+v %v", h, err)
	}
	if err := h.Verify(c); err != nil {
		t.Fatal(err)
	}
	got, err := Decrypt(c, ct, &DecryptOptions{ExpectPath: "dir/x.csv", ExpectHdrtag: h.Hdrtag})
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("round trip: %v", err)
	}
	other := testCek(t)
	if err := h.Verify(other); !errors.Is(err, ErrAuth) {
		t.Fatalf("verify with another key: %v", err)
	}
}

func TestWrongKeyFailsAuthenticationAndReleasesNothing(t *testing.T) {
	c, other := testCek(t), testCek(t)
	ct, _ := Encrypt(c, pattern(100000, 2), nil)
	d, _ := NewDecryptor(other, nil)
	defer d.Close()
	out, err := d.Update(ct)
	if !errors.Is(err, ErrAuth) || len(out) != 0 {
		t.Fatalf("got %d bytes, %v", len(out), err)
	}
	if _, err := d.Update(nil); !errors.Is(err, ErrState) {
		t.Fatalf("a dead decryptor must stay dead: %v", err)
	}
}

func TestMismatchedPathIsReported(t *testing.T) {
	c := testCek(t)
	ct, _ := Encrypt(c, []byte("x"), &EncryptOptions{Context: Context{Path: "a.txt"}})
	_, err := Decrypt(c, ct, &DecryptOptions{ExpectPath: "b.txt"})
	var e *Error
	if !errors.As(err, &e) || e.Code != ErrMismatch || !strings.Contains(e.Message, "a.txt") {
		t.Fatalf("%v", err)
	}
	if _, err := Decrypt(c, ct, &DecryptOptions{ExpectHdrtag: []byte{1}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short hdrtag: %v", err)
	}
}

func TestClosedHandlesReturnErrors(t *testing.T) {
	c, _ := GenerateCek()
	c.Close()
	c.Close()
	if _, err := Encrypt(c, []byte("x"), nil); !errors.Is(err, ErrState) {
		t.Fatalf("%v", err)
	}
	if _, err := CekFromBytes([]byte("short")); !errors.Is(err, ErrKey) || CodeOf(err) != ErrKey {
		t.Fatalf("%v", err)
	}
	if _, err := LoadCek("/nonexistent/escrow/cek.key"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("%v", err)
	}
}

func TestWriterAndReaderStream(t *testing.T) {
	c := testCek(t)
	pt := pattern(3*65536+123, 3)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, c, &EncryptOptions{Context: Context{Path: "big.bin"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(pt); i += 10000 {
		end := i + 10000
		if end > len(pt) {
			end = len(pt)
		}
		if _, err := w.Write(pt[i:end]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil || len(w.Hdrtag()) != 32 {
		t.Fatal(err)
	}
	r, _ := NewReader(bytes.NewReader(buf.Bytes()), c, &DecryptOptions{ExpectPath: "big.bin", ExpectHdrtag: w.Hdrtag()})
	defer r.Close()
	got, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil || !bytes.Equal(got, pt) || r.Header().Context.Path != "big.bin" {
		t.Fatalf("stream: %v", err)
	}
	// an aborted stream never decrypts as complete
	var cut bytes.Buffer
	w2, _ := NewWriter(&cut, c, nil)
	w2.Write(pt)
	w2.Abort()
	r2, _ := NewReader(&cut, c, nil)
	if _, err := io.ReadAll(r2); CodeOf(err) != ErrTruncated && CodeOf(err) != ErrAuth {
		t.Fatalf("aborted stream: %v", err)
	}
}

func TestRandomAccessFileAndFiles(t *testing.T) {
	c := testCek(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "in")
	pt := pattern(5*16384+7, 4)
	os.WriteFile(src, pt, 0o600)
	enc := filepath.Join(dir, "in.bkenc")
	tag, err := EncryptFile(c, src, enc, FormatV1, &EncryptOptions{Log2CS: 14, Context: Context{Path: "in"}})
	if err != nil || len(tag) != 32 {
		t.Fatal(err)
	}
	f, err := OpenFile(enc, c, &DecryptOptions{ExpectPath: "in", ExpectHdrtag: tag})
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 100)
	if n, err := f.ReadAt(p, 16380); n != 100 || err != nil || !bytes.Equal(p, pt[16380:16480]) {
		t.Fatalf("ReadAt: %d %v", n, err)
	}
	if n, err := f.ReadAt(p, f.Size()-10); n != 10 || err != io.EOF {
		t.Fatalf("ReadAt at end: %d %v", n, err)
	}
	f.Close()
	out := filepath.Join(dir, "out")
	if err := DecryptFile(c, enc, out, &DecryptOptions{ExpectPath: "in"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(enc)
	b[len(b)-3] ^= 1
	os.WriteFile(enc, b, 0o600)
	bad := filepath.Join(dir, "bad")
	if err := DecryptFile(c, enc, bad, nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("%v", err)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Fatal("plaintext left on disk after a failure")
	}
	v0 := filepath.Join(dir, "in.v0")
	if _, err := EncryptFile(c, src, v0, FormatV0, nil); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(v0)
	if got, err := LegacyDecrypt(c, b); err != nil || !bytes.Equal(got, pt) {
		t.Fatal(err)
	}
}

func TestKeysWrapAndExport(t *testing.T) {
	priv, err := LoadKekPrivate(filepath.Join(vectorsDir(t), "keys", "kek3072.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	defer priv.Close()
	der, _ := priv.PublicBytes(KeyDER)
	pub, err := KekPublicFromBytes(der)
	if err != nil || pub.HasPrivate() {
		t.Fatal(err)
	}
	c := testCek(t)
	for _, h := range []OaepHash{OaepSHA256, OaepSHA1} {
		w, err := pub.Wrap(c, h)
		if err != nil {
			t.Fatal(err)
		}
		back, used, err := priv.Unwrap(w, OaepAuto)
		if err != nil || used != h || !back.Equal(c) {
			t.Fatalf("unwrap %d: %v", h, err)
		}
	}
	if _, _, err := pub.Unwrap(make([]byte, 384), OaepAuto); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unwrap with a public key: %v", err)
	}
	pem, _ := priv.PrivateBytes(KeyPEM)
	if !bytes.HasPrefix(pem, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Fatal("private PEM")
	}
	p := filepath.Join(t.TempDir(), "c.key")
	if err := c.Save(p, CekBase64); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(p, CekRaw); !errors.Is(err, ErrExists) {
		t.Fatalf("%v", err)
	}
	name, _ := WcekFilename()
	if !strings.HasPrefix(name, "wcek_") {
		t.Fatal(name)
	}
}

func TestDatasetAndManifest(t *testing.T) {
	c := testCek(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "ds")
	os.MkdirAll(filepath.Join(src, "sub"), 0o700)
	os.WriteFile(filepath.Join(src, "a.csv"), pattern(1000, 5), 0o600)
	os.WriteFile(filepath.Join(src, "sub", "b.csv"), pattern(70000, 6), 0o600)
	enc := filepath.Join(dir, "enc")
	if err := EncryptDataset(src, enc, c, &DatasetOptions{DatasetVersion: "v7"}); err != nil {
		t.Fatal(err)
	}
	mb, _ := os.ReadFile(filepath.Join(enc, ".escrow-manifest.bkenc"))
	m, err := DecodeManifest(c, mb)
	if err != nil || m.DatasetVersion != "v7" || len(m.Entries) != 2 || m.Find("sub/b.csv") != 1 || m.Entries[1].Size != 70000 {
		t.Fatalf("manifest %+v %v", m, err)
	}
	if err := DecryptDataset(enc, filepath.Join(dir, "out"), c, &DatasetOptions{RequireManifest: true}); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(enc, "a.csv.bkenc"), filepath.Join(enc, "sub", "b.csv.bkenc")
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	os.WriteFile(a, db, 0o600)
	os.WriteFile(b, da, 0o600)
	if err := DecryptDataset(enc, filepath.Join(dir, "out2"), c, nil); !errors.Is(err, ErrMismatch) {
		t.Fatalf("swapped files: %v", err)
	}
}

func TestPackAlgorithm(t *testing.T) {
	c := testCek(t)
	dir := t.TempDir()
	alg := filepath.Join(dir, "alg")
	os.MkdirAll(alg, 0o700)
	os.WriteFile(filepath.Join(alg, "Dockerfile"), []byte("FROM python:3.11\nENTRYPOINT [\"python\", \"app.py\"]\n"), 0o600)
	os.WriteFile(filepath.Join(alg, "app.py"), []byte("print(1)\n"), 0o600)
	os.WriteFile(filepath.Join(alg, "model.pkl"), pattern(5000, 7), 0o600)
	z := filepath.Join(dir, "alg.zip")
	if err := PackAlgorithm(alg, c, []string{"model.pkl"}, z, nil); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAlgorithm(z, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if s := a.Secrets(); len(s) != 1 || s[0] != (Secret{"model.pkl.bkenc", "model.pkl"}) {
		t.Fatalf("%v", s)
	}
	if passed, checks, err := a.Check(1); !passed || err != nil {
		t.Fatalf("%v %v", checks, err)
	}
	if err := a.Extract(c, filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
}

func TestGoroutinesWithSeparateHandles(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(seed int) {
			defer wg.Done()
			c, err := GenerateCek()
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for i := 0; i < 20; i++ {
				pt := pattern(50000+i*100, seed)
				ct, err := Encrypt(c, pt, &EncryptOptions{Context: Context{Path: "x"}})
				if err != nil {
					errs <- err
					return
				}
				if got, err := Decrypt(c, ct, nil); err != nil || !bytes.Equal(got, pt) {
					errs <- errors.New("round trip differs")
					return
				}
				// each goroutine gets its own message, not another's
				_, err = Decrypt(c, ct, &DecryptOptions{ExpectPath: "y"})
				var e *Error
				if !errors.As(err, &e) || e.Code != ErrMismatch || !strings.Contains(e.Message, "'y'") {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFinalizersFreeForgottenHandles(t *testing.T) {
	for i := 0; i < 1000; i++ {
		c, _ := GenerateCek()
		e, _ := NewEncryptor(c, nil)
		_ = e
	}
	runtime.GC()
	runtime.GC()
}

// The committed SWIG output must be what `go generate` makes from swig/raw.i.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	if _, err := exec.LookPath("swig"); err != nil {
		t.Skip("swig not installed")
	}
	out := t.TempDir()
	cmd := exec.Command("swig", "-go", "-cgo", "-intgosize", "64", "-module", "raw",
		"-o", filepath.Join(out, "raw_wrap.c"), "-outdir", out, filepath.Join("swig", "raw.i"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("swig: %v\n%s", err, b)
	}
	for _, f := range []string{"raw.go", "raw_wrap.c"} {
		want, _ := os.ReadFile(filepath.Join(out, f))
		got, _ := os.ReadFile(filepath.Join("internal", "raw", f))
		// SWIG writes the interface file's path into comments: ignore lines naming it
		norm := func(b []byte) string {
			var keep []string
			for _, l := range strings.Split(string(b), "\n") {
				if !strings.Contains(l, "raw.i") {
					keep = append(keep, l)
				}
			}
			return strings.Join(keep, "\n")
		}
		if norm(got) != norm(want) {
			t.Errorf("internal/raw/%s is stale: run `go generate ./...` in bindings/go", f)
		}
	}
}

func TestClosingTheKeyUnderALiveDecryptorIsSafe(t *testing.T) {
	k, _ := GenerateCek()
	pt := pattern(300000, 8)
	ct, _ := Encrypt(k, pt, nil)
	d, err := NewDecryptor(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	k.Close() // the decryptor still holds the key; the Cek itself is unusable now
	if _, err := Encrypt(k, []byte("x"), nil); !errors.Is(err, ErrState) {
		t.Fatalf("%v", err)
	}
	a, err := d.Update(ct[:100])
	if err != nil || len(a) != 0 {
		t.Fatal(err)
	}
	b, err := d.Update(ct[100:])
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Final()
	if err != nil || !bytes.Equal(append(b, f...), pt) {
		t.Fatal(err)
	}
	d.Close()
	if k.h != nil {
		t.Fatal("the key was not freed with the decryptor")
	}
}
