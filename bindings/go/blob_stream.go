package escrow

import (
	"io"
	"runtime"

	"libescrow/bindings/go/internal/raw"
	"libescrow/bindings/go/internal/stream"
)

// Progress receives bytes done and the total (0 if unknown) during a transfer. It runs on the
// goroutine that made the call.
type Progress func(done, total uint64)

// streamCall runs one C call with callbacks; a writer's own error wins over the library's.
func streamCall(w io.Writer, progress Progress, f func(cb *stream.Callbacks) int64) (int64, error) {
	cb := stream.New(w, progress)
	defer cb.Release()
	n, err := call(func() int64 { return f(cb) })
	if cb.Err != nil {
		return n, cb.Err
	}
	return n, err
}

// GetTo streams length bytes of a blob from offset (length < 0: to the end) into w, in order,
// each byte once (cut transfers resume); memory stays bounded whatever the size. A write error
// stops the download and is returned.
func (c *BlobClient) GetTo(name string, w io.Writer, offset, length int64, progress Progress) error {
	p, err := c.ptr()
	if err != nil {
		return err
	}
	if w == nil {
		return &Error{Code: ErrInvalid, Message: "GetTo needs a writer"}
	}
	defer runtime.KeepAlive(c)
	_, err = streamCall(w, progress, func(cb *stream.Callbacks) int64 {
		wf, wp := cb.WriteArgs()
		pf, pp := cb.ProgressArgs()
		return int64(raw.Goesc_blob_get_stream(p, name, offset, length, wf, wp, pf, pp))
	})
	return err
}

// GetDecryptTo streams a BKENC v1 blob's verified plaintext into w as it downloads. The stream
// is authentic as a whole only when this returns nil: after an error, discard what w got.
func (c *BlobClient) GetDecryptTo(name string, cek *Cek, w io.Writer, expectPath string, progress Progress) error {
	p, err := c.ptr()
	if err != nil {
		return err
	}
	cp, err := cek.ptr()
	if err != nil {
		return err
	}
	if w == nil {
		return &Error{Code: ErrInvalid, Message: "GetDecryptTo needs a writer"}
	}
	defer runtime.KeepAlive(c)
	defer runtime.KeepAlive(cek)
	_, err = streamCall(w, progress, func(cb *stream.Callbacks) int64 {
		wf, wp := cb.WriteArgs()
		pf, pp := cb.ProgressArgs()
		return int64(raw.Goesc_blob_get_decrypt_stream(p, name, cp, expectPath, wf, wp, pf, pp))
	})
	return err
}

// GetFileProgress is GetFile with a progress function.
func (c *BlobClient) GetFileProgress(name, outPath string, progress Progress) error {
	p, err := c.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	_, err = streamCall(nil, progress, func(cb *stream.Callbacks) int64 {
		pf, pp := cb.ProgressArgs()
		return int64(raw.Goesc_blob_get_file_p(p, name, outPath, pf, pp))
	})
	return err
}

// PutFileProgress is PutFile with a progress function (bytes sent).
func (c *BlobClient) PutFileProgress(name, path string, skipSame bool, progress Progress) (bool, error) {
	p, err := c.ptr()
	if err != nil {
		return false, err
	}
	defer runtime.KeepAlive(c)
	flags := uint(0)
	if skipSame {
		flags = 1
	}
	n, err := streamCall(nil, progress, func(cb *stream.Callbacks) int64 {
		pf, pp := cb.ProgressArgs()
		return int64(raw.Goesc_blob_put_file_p(p, name, path, flags, pf, pp))
	})
	return n == 1, err
}
