// Package raw is the SWIG-generated layer of the Go bindings (raw.go, raw_wrap.c, generated
// from ../../swig/raw.i by `go generate`). Use package escrow instead.
package raw

// #cgo pkg-config: libescrow
import "C"

//go:generate swig -go -cgo -intgosize 64 -module raw -o raw_wrap.c -outdir . ../../swig/raw.i
