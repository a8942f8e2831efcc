// Encrypt a dataset folder for upload, then check it as the enclave would.
//
//	go run ./encryptdataset -cek CEK_FILE DATASET_DIR OUT_DIR
//
// Without -cek a new CEK is generated and saved next to OUT_DIR as cek_<uuid>.key.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	escrow "libescrow/bindings/go"
)

func main() {
	cekPath := flag.String("cek", "", "CEK file (default: generate one)")
	version := flag.String("version", "", "dataset version written in the manifest")
	flag.Parse()
	if flag.NArg() != 2 {
		log.Fatal("usage: encryptdataset [-cek FILE] [-version TAG] DATASET_DIR OUT_DIR")
	}
	in, out := flag.Arg(0), flag.Arg(1)
	var cek *escrow.Cek
	var err error
	if *cekPath != "" {
		cek, err = escrow.LoadCek(*cekPath)
	} else {
		cek, err = escrow.GenerateCek()
		if err == nil {
			name, _ := escrow.CekFilename()
			p := filepath.Join(filepath.Dir(filepath.Clean(out)), name)
			if err = cek.Save(p, escrow.CekRaw); err == nil {
				fmt.Println("new CEK saved to", p)
			}
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	defer cek.Close()
	opts := &escrow.DatasetOptions{DatasetVersion: *version, Context: escrow.Context{Role: "ds"}}
	if err := escrow.EncryptDataset(in, out, cek, opts); err != nil {
		log.Fatalf("encryption failed (%s): %v", escrow.CodeOf(err).Name(), err)
	}
	b, err := os.ReadFile(filepath.Join(out, ".escrow-manifest.bkenc"))
	if err != nil {
		log.Fatal(err)
	}
	m, err := escrow.DecodeManifest(cek, b)
	if err != nil {
		log.Fatal(err)
	}
	var total int64
	for _, e := range m.Entries {
		total += e.Size
	}
	fmt.Printf("%d files, %d bytes encrypted\n", len(m.Entries), total)
	tmp, _ := os.MkdirTemp("", "escrow-check-")
	defer os.RemoveAll(tmp)
	if err := escrow.DecryptDataset(out, filepath.Join(tmp, "check"), cek, &escrow.DatasetOptions{RequireManifest: true}); err != nil {
		log.Fatalf("verification failed: %v", err)
	}
	fmt.Println("verified: the encrypted folder decrypts completely")
}
