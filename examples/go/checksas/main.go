// Check a dataset SAS URL the way the EscrowAI UI does before accepting it.
//
//	go run ./checksas [-now 2024-06-01T12:00:00Z] URL
package main

import (
	"flag"
	"fmt"
	"log"
	"os"

	escrow "libescrow/bindings/go"
)

func main() {
	now := flag.String("now", "", "judge at this time (RFC 3339) instead of the clock")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: checksas [-now TIME] URL")
	}
	r, err := escrow.CheckSas(flag.Arg(0), *now, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s\n  %s\n", r.Status, r.Message, r.Reason)
	if r.Status != "valid" {
		os.Exit(1)
	}
}
