// Wrap a CEK with a project's public KEK (RSA-OAEP SHA-256), as a data steward does.
//
//	go run ./wrapcek [-cek CEK_FILE] [-out DIR] KEK_PUBLIC_FILE
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
	outDir := flag.String("out", ".", "output folder")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: wrapcek [-cek FILE] [-out DIR] KEK_PUBLIC_FILE")
	}
	kek, err := escrow.LoadKekPublic(flag.Arg(0))
	if err != nil {
		log.Fatal(err)
	}
	defer kek.Close()
	var cek *escrow.Cek
	if *cekPath != "" {
		cek, err = escrow.LoadCek(*cekPath)
	} else if cek, err = escrow.GenerateCek(); err == nil {
		name, _ := escrow.CekFilename()
		p := filepath.Join(*outDir, name)
		if err = cek.Save(p, escrow.CekRaw); err == nil {
			fmt.Println("new CEK:", p)
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	defer cek.Close()
	wcek, err := kek.Wrap(cek, escrow.OaepSHA256)
	if err != nil {
		log.Fatal(err)
	}
	name, _ := escrow.WcekFilename()
	p := filepath.Join(*outDir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := f.Write(wcek); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	id, _ := kek.KeyID()
	fmt.Printf("WCEK (%d bytes) for KEK %s (%d bits): %s\n", len(wcek), id, kek.Bits(), p)
}
