// Package escrow is the Go binding of libescrow: CEK/KEK/WCEK keys, BKENC v1 envelope
// encryption (streams as io.Writer/io.Reader, random access as io.ReaderAt, files, legacy
// v0), algorithm packages and encrypted dataset folders.
//
// Handles (*Cek, *Kek, *Encryptor, ...) own C memory: Close them when done (a finalizer
// frees them otherwise). A handle is used by one goroutine at a time; Cek and Kek values may
// be shared by goroutines once created. Buffers are Go []byte: no C memory reaches callers.
package escrow

import (
	"errors"
	"fmt"
	"runtime"

	"libescrow/bindings/go/internal/raw"
)

// Code is a libescrow error code (ESCROW_E_*). Each family is a sentinel usable with
// errors.Is: errors.Is(err, escrow.ErrAuth).
type Code int

// The ESCROW_E_* families.
const (
	ErrInvalid     Code = -1  // a bad argument
	ErrNoMem       Code = -2  // out of memory
	ErrIO          Code = -3  // reading or writing failed
	ErrFormat      Code = -4  // input does not follow its format
	ErrAuth        Code = -5  // wrong key, or the data was altered
	ErrKey         Code = -6  // key material unusable
	ErrUnsupported Code = -7  // version, suite or flag this build can't read
	ErrTruncated   Code = -8  // input ended early
	ErrLimit       Code = -9  // a size or count limit was exceeded
	ErrCrypto      Code = -10 // the crypto backend failed
	ErrNotFound    Code = -11 // a file, entry or key was not found
	ErrExists      Code = -12 // the output already exists
	ErrState       Code = -13 // not valid in the handle's state (or the handle is closed)
	ErrBufSize     Code = -14 // output buffer too small
	ErrMismatch    Code = -15 // authentic data in the wrong place
	ErrCheck       Code = -16 // a content check failed
)

var codeNames = map[Code]string{
	ErrInvalid: "ESCROW_E_INVALID", ErrNoMem: "ESCROW_E_NOMEM", ErrIO: "ESCROW_E_IO",
	ErrFormat: "ESCROW_E_FORMAT", ErrAuth: "ESCROW_E_AUTH", ErrKey: "ESCROW_E_KEY",
	ErrUnsupported: "ESCROW_E_UNSUPPORTED", ErrTruncated: "ESCROW_E_TRUNCATED",
	ErrLimit: "ESCROW_E_LIMIT", ErrCrypto: "ESCROW_E_CRYPTO", ErrNotFound: "ESCROW_E_NOTFOUND",
	ErrExists: "ESCROW_E_EXISTS", ErrState: "ESCROW_E_STATE", ErrBufSize: "ESCROW_E_BUFSIZE",
	ErrMismatch: "ESCROW_E_MISMATCH", ErrCheck: "ESCROW_E_CHECK",
}

// Name is the C name of the code, e.g. "ESCROW_E_AUTH".
func (c Code) Name() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("escrow error %d", int(c))
}

// Error makes a Code usable as a sentinel error.
func (c Code) Error() string { return raw.Escrow_strerror(int(c)) }

// Error is a failed libescrow call: its code and libescrow's message (never secret).
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is lets errors.Is(err, escrow.ErrAuth) match on the code.
func (e *Error) Is(target error) bool {
	var c Code
	if errors.As(target, &c) {
		return c == e.Code
	}
	return false
}

// CodeOf returns the libescrow code of err, or 0 when err is nil or not from libescrow.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	return 0
}

func lastError(fallback Code) error {
	code := Code(raw.Escrow_error_last_code())
	if code == 0 {
		code = fallback
	}
	msg := raw.Escrow_error_last()
	if msg == "" {
		msg = code.Error()
	}
	return &Error{Code: code, Message: msg}
}

// call runs f on a locked OS thread (the error message is per thread) and turns a negative
// result into an *Error.
func call(f func() int64) (int64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	raw.Escrow_error_clear()
	rc := f()
	if rc < 0 {
		return rc, lastError(Code(rc))
	}
	return rc, nil
}

// callPtr runs a constructor returning a pointer (0 on failure) on a locked OS thread.
func callPtr(f func() uintptr) (uintptr, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	raw.Escrow_error_clear()
	p := f()
	if p == 0 {
		// a NULL without a recorded error is an allocation failure of the raw layer itself
		return 0, lastError(ErrNoMem)
	}
	return p, nil
}

func errClosed(what string) error {
	return &Error{Code: ErrState, Message: what + " is closed"}
}

func init() {
	if rc := raw.Escrow_init(); rc < 0 {
		panic("escrow: libescrow failed to initialise: " + raw.Escrow_error_last())
	}
}

// LibraryVersion is the version of the libescrow the program runs against.
func LibraryVersion() string { return raw.Escrow_version() }
