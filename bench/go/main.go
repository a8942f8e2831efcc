// Streaming encryption throughput of the Go bindings against the C command.
//
//	cd bench/go && PKG_CONFIG_PATH=<dir with libescrow.pc> GOFLAGS=-mod=mod go run . \
//	    -escrow <build>/tools/escrow/escrow [-size-mib 1024] [-buffer-kib 1024]
//
// Encrypts the same input with `escrow encrypt` and with escrow.Writer fed by io.CopyBuffer
// with -buffer-kib buffers (best of -runs each) and prints both throughputs and their ratio.
// With -blob, compares streamed downloads instead: `escrow blob get file://DIR in.bin -o OUT`
// against BlobClient.GetTo into a file (both fsync their output).
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	escrow "libescrow/bindings/go"
)

func best(runs int, f func() error) time.Duration {
	var b time.Duration
	for i := 0; i < runs; i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			log.Fatal(err)
		}
		if d := time.Since(t0); i == 0 || d < b {
			b = d
		}
	}
	return b
}

func main() {
	bin := flag.String("escrow", "", "the C escrow command")
	sizeMiB := flag.Int("size-mib", 1024, "input size")
	bufKiB := flag.Int("buffer-kib", 1024, "Go buffer size")
	runs := flag.Int("runs", 3, "runs (best kept)")
	dirFlag := flag.String("dir", "", "scratch folder")
	blob := flag.Bool("blob", false, "compare streamed blob downloads (file://) instead")
	flag.Parse()
	if *bin == "" {
		log.Fatal("-escrow is required")
	}
	dir, err := os.MkdirTemp(*dirFlag, "escrow-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "in.bin")
	block := make([]byte, 1<<20)
	rand.Read(block)
	f, _ := os.Create(src)
	for i := 0; i < *sizeMiB; i++ {
		f.Write(block)
	}
	f.Close()
	cek, err := escrow.GenerateCek()
	if err != nil {
		log.Fatal(err)
	}
	defer cek.Close()
	cekPath := filepath.Join(dir, "cek.key")
	if err := cek.Save(cekPath, escrow.CekRaw); err != nil {
		log.Fatal(err)
	}
	if *blob {
		benchBlob(*bin, dir, *sizeMiB, *runs)
		return
	}
	outC, outGo := filepath.Join(dir, "c.bkenc"), filepath.Join(dir, "go.bkenc")
	runC := func() error {
		os.Remove(outC)
		return exec.Command(*bin, "encrypt", "--cek", cekPath, src, "-o", outC).Run()
	}
	runGo := func() error {
		os.Remove(outGo)
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(outGo, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer out.Close()
		// the command puts the file name in the header (context 0x04): so do we
		w, err := escrow.NewWriter(out, cek, &escrow.EncryptOptions{Context: escrow.Context{Path: "in.bin"}})
		if err != nil {
			return err
		}
		// io.CopyBuffer would use out's ReadFrom; wrap to keep the buffer size honest
		if _, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{in}, make([]byte, *bufKiB<<10)); err != nil {
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
		return out.Sync() // the C command fsyncs its output too
	}
	// interleaved, so that both see the same machine load; best of -runs each
	var tc, tg time.Duration
	for i := 0; i < *runs; i++ {
		if d := best(1, runC); i == 0 || d < tc {
			tc = d
		}
		if d := best(1, runGo); i == 0 || d < tg {
			tg = d
		}
	}
	sc, _ := os.Stat(outC)
	sg, _ := os.Stat(outGo)
	if sc.Size() != sg.Size() {
		log.Fatalf("sizes differ: %d %d", sc.Size(), sg.Size())
	}
	mib := float64(*sizeMiB)
	fmt.Printf("input %d MiB, Go buffer %d KiB, best of %d\n", *sizeMiB, *bufKiB, *runs)
	fmt.Printf("C escrow encrypt   %8.1f MiB/s  (%.3f s)\n", mib/tc.Seconds(), tc.Seconds())
	fmt.Printf("Go escrow.Writer   %8.1f MiB/s  (%.3f s)\n", mib/tg.Seconds(), tg.Seconds())
	fmt.Printf("ratio Go / C       %8.3f\n", tc.Seconds()/tg.Seconds())
}

// benchBlob: dir holds in.bin; C `escrow blob get` against BlobClient.GetTo, interleaved.
func benchBlob(bin, dir string, sizeMiB, runs int) {
	url := "file://" + dir
	c, err := escrow.OpenBlob(url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	outC, outGo := filepath.Join(dir, "c.out"), filepath.Join(dir, "go.out")
	runC := func() error {
		os.Remove(outC)
		return exec.Command(bin, "blob", "get", url, "in.bin", "-o", outC).Run()
	}
	runGo := func() error {
		os.Remove(outGo)
		out, err := os.OpenFile(outGo, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		defer out.Close()
		if err := c.GetTo("in.bin", out, 0, -1, nil); err != nil {
			return err
		}
		return out.Sync()
	}
	var tc, tg time.Duration
	for i := 0; i < runs; i++ {
		if d := best(1, runC); i == 0 || d < tc {
			tc = d
		}
		if d := best(1, runGo); i == 0 || d < tg {
			tg = d
		}
	}
	mib := float64(sizeMiB)
	fmt.Printf("blob %d MiB (file://), best of %d\n", sizeMiB, runs)
	fmt.Printf("C escrow blob get     %8.1f MiB/s  (%.3f s)\n", mib/tc.Seconds(), tc.Seconds())
	fmt.Printf("Go BlobClient.GetTo   %8.1f MiB/s  (%.3f s)\n", mib/tg.Seconds(), tg.Seconds())
	fmt.Printf("ratio Go / C          %8.3f\n", tc.Seconds()/tg.Seconds())
}
