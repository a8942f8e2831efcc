// Validate a report against validation criteria, as the enclave does.
//
//	go run ./validatereport CRITERIA.json REPORT.json
//
// Exit status 0: the report passes; 1: it breaks the criteria; 2: an input can't be read.
package main

import (
	"errors"
	"fmt"
	"os"

	escrow "libescrow/bindings/go"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: validatereport CRITERIA.json REPORT.json")
		os.Exit(2)
	}
	schema, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c, err := escrow.CompileCriteria(schema, nil)
	var se *escrow.SchemaError
	if errors.As(err, &se) {
		fmt.Fprintf(os.Stderr, "the criteria are not a valid schema: %v\n%s\n", se, se.Tree)
		os.Exit(2)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer c.Close()
	v, err := c.ValidateFile(os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot validate (%s): %v\n", escrow.CodeOf(err).Name(), err)
		os.Exit(2)
	}
	if v.Valid {
		fmt.Println("report passes the criteria")
		return
	}
	fmt.Printf("report breaks the criteria:\n%s\n", v.Errors)
	os.Exit(1)
}
