// Package stream carries libescrow's callbacks (progress, streamed writes) into Go: C
// trampolines (tramp.c) call the exported functions below with a runtime/cgo Handle as the
// payload, so no Go pointer is ever kept by C. Used by package escrow; not an API.
package stream

// #include <stdint.h>
// #include <stddef.h>
// uintptr_t goesc_progress_fn(void);
// uintptr_t goesc_write_fn(void);
import "C"

import (
	"io"
	"runtime/cgo"
	"unsafe"
)

// Callbacks of one call: a writer for the bytes and a progress function (either may be nil).
type Callbacks struct {
	W        io.Writer
	Progress func(done, total uint64)
	// Err is the writer's error, if it stopped the transfer.
	Err    error
	handle cgo.Handle
}

// New registers the callbacks for one call; Release them after it.
func New(w io.Writer, progress func(done, total uint64)) *Callbacks {
	c := &Callbacks{W: w, Progress: progress}
	c.handle = cgo.NewHandle(c)
	return c
}

// Release forgets the registration.
func (c *Callbacks) Release() { c.handle.Delete() }

// WriteArgs are the (function, payload) pair for a write callback parameter (0, 0 if no writer).
func (c *Callbacks) WriteArgs() (uint, uint) {
	if c == nil || c.W == nil {
		return 0, 0
	}
	return uint(C.goesc_write_fn()), uint(c.handle)
}

// ProgressArgs are the (function, payload) pair for a progress parameter (0, 0 if none).
func (c *Callbacks) ProgressArgs() (uint, uint) {
	if c == nil || c.Progress == nil {
		return 0, 0
	}
	return uint(C.goesc_progress_fn()), uint(c.handle)
}

//export goescProgress
func goescProgress(h C.uintptr_t, done, total C.uint64_t) {
	c := cgo.Handle(h).Value().(*Callbacks)
	c.Progress(uint64(done), uint64(total))
}

const errIO = -3 // ESCROW_E_IO

//export goescWrite
func goescWrite(h C.uintptr_t, data unsafe.Pointer, n C.size_t) C.int {
	c := cgo.Handle(h).Value().(*Callbacks)
	if c.Err != nil {
		return errIO
	}
	// io.Writer must not keep p: a view of the library's buffer is enough
	p := unsafe.Slice((*byte)(data), int(n))
	if _, err := c.W.Write(p); err != nil {
		c.Err = err
		return errIO
	}
	return 0
}
