package escrow

import (
	"io"
	"runtime"

	"libescrow/bindings/go/internal/raw"
)

// FileFormat is an encrypted file's format.
type FileFormat int

// Formats.
const (
	FormatUnknown FileFormat = 0
	FormatV1      FileFormat = 1 // BKENC v1
	FormatV0      FileFormat = 2 // legacy "Salted__"
)

// DetectFormat tells the format from the first bytes of a file (8 are enough).
func DetectFormat(b []byte) FileFormat { return FileFormat(raw.Goesc_detect_format(b)) }

// Context holds the fields authenticated in a v1 header; empty fields are left out.
type Context struct {
	ProjectID string // 0x01
	Role      string // 0x02: "ao" or "ds"
	Asset     string // 0x03: "<asset id>@<version tag>"
	Path      string // 0x04: relative '/'-separated plaintext path
	KeyID     string // 0x05
}

// EncryptOptions for v1 streams and files.
type EncryptOptions struct {
	Log2CS  uint // chunk size exponent 14..24; 0 means 16 (64 KiB)
	Context Context
}

// DecryptOptions pin what the file must say.
type DecryptOptions struct {
	ExpectPath   string // the header's path must equal it (ErrMismatch)
	ExpectHdrtag []byte // 32 bytes: the header tag must equal it (ErrMismatch)
}

func (o *DecryptOptions) check() error {
	if o != nil && o.ExpectHdrtag != nil && len(o.ExpectHdrtag) != 32 {
		return &Error{Code: ErrInvalid, Message: "ExpectHdrtag must be 32 bytes"}
	}
	return nil
}

func (o *DecryptOptions) path() string {
	if o == nil {
		return ""
	}
	return o.ExpectPath
}

func (o *DecryptOptions) tag() []byte {
	if o == nil {
		return nil
	}
	return o.ExpectHdrtag
}

// Header is a parsed BKENC v1 header, copied into Go values.
type Header struct {
	Length  int
	Log2CS  int
	Salt    []byte
	Hdrtag  []byte
	Context Context
	raw     []byte
}

func headerFrom(h raw.Struct_SS_escrow_header) *Header {
	if h == nil || h.Swigcptr() == 0 {
		return nil
	}
	out := &Header{Length: int(raw.Goesc_header_length(h)), Log2CS: raw.Goesc_header_log2cs(h),
		Salt: make([]byte, 32), Hdrtag: make([]byte, 32)}
	raw.Goesc_header_bytes(h, 0, out.Salt)
	raw.Goesc_header_bytes(h, 1, out.Hdrtag)
	ctx := func(t uint) string {
		if raw.Goesc_header_has_context(h, t) == 0 {
			return ""
		}
		return raw.Goesc_header_context(h, t)
	}
	out.Context = Context{ctx(1), ctx(2), ctx(3), ctx(4), ctx(5)}
	return out
}

// ParseHeader parses the v1 header at the start of b (no key needed; use Verify for that).
func ParseHeader(b []byte) (*Header, error) {
	var h raw.Struct_SS_escrow_header
	if _, err := callPtr(func() uintptr { h = raw.Goesc_header_parse(b); return h.Swigcptr() }); err != nil {
		return nil, err
	}
	defer raw.Goesc_header_free(h)
	out := headerFrom(h)
	out.raw = append([]byte(nil), b[:out.Length]...)
	return out, nil
}

// Verify checks the header tag with a CEK (ErrAuth for a wrong key or an altered header).
func (h *Header) Verify(c *Cek) error {
	cp, err := c.ptr()
	if err != nil {
		return err
	}
	if h.raw == nil {
		return &Error{Code: ErrInvalid, Message: "only a parsed header can be verified"}
	}
	defer runtime.KeepAlive(c)
	_, err = call(func() int64 {
		p := raw.Goesc_header_parse(h.raw)
		if p.Swigcptr() == 0 {
			return int64(raw.Escrow_error_last_code())
		}
		defer raw.Goesc_header_free(p)
		return int64(raw.Goesc_header_verify(p, cp))
	})
	return err
}

// Encryptor is a sans-I/O BKENC v1 encryptor.
type Encryptor struct {
	h   raw.Struct_SS_escrow_encryptor
	cek *Cek
}

// NewEncryptor starts a v1 stream (opts may be nil).
func NewEncryptor(c *Cek, opts *EncryptOptions) (*Encryptor, error) {
	cp, err := c.ptr()
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &EncryptOptions{}
	}
	x := opts.Context
	var h raw.Struct_SS_escrow_encryptor
	if _, err := callPtr(func() uintptr {
		h = raw.Goesc_encryptor_new(cp, opts.Log2CS, x.ProjectID, x.Role, x.Asset, x.Path, x.KeyID)
		return h.Swigcptr()
	}); err != nil {
		return nil, err
	}
	runtime.KeepAlive(c)
	e := &Encryptor{h: h, cek: c}
	runtime.SetFinalizer(e, (*Encryptor).Close)
	return e, nil
}

// UpdateBound is the most bytes Update may write for n input bytes.
func (e *Encryptor) UpdateBound(n int) int {
	if e.h == nil {
		return 0
	}
	defer runtime.KeepAlive(e)
	return int(raw.Goesc_encryptor_update_bound(e.h, int64(n)))
}

// UpdateTo encrypts in into out (len(out) >= UpdateBound(len(in))) and returns bytes written.
func (e *Encryptor) UpdateTo(out, in []byte) (int, error) {
	if e.h == nil {
		return 0, errClosed("the encryptor")
	}
	defer runtime.KeepAlive(e)
	n, err := call(func() int64 { return raw.Goesc_encryptor_update(e.h, out, in) })
	return int(n), err
}

// Update encrypts in and returns the ciphertext ready so far.
func (e *Encryptor) Update(in []byte) ([]byte, error) {
	out := make([]byte, e.UpdateBound(len(in)))
	n, err := e.UpdateTo(out, in)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// Final returns the last chunk; no Update after it.
func (e *Encryptor) Final() ([]byte, error) {
	if e.h == nil {
		return nil, errClosed("the encryptor")
	}
	defer runtime.KeepAlive(e)
	out := make([]byte, raw.Goesc_encryptor_final_bound(e.h))
	n, err := call(func() int64 { return raw.Goesc_encryptor_final(e.h, out) })
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// Hdrtag is the stream's 32-byte header tag.
func (e *Encryptor) Hdrtag() []byte {
	if e.h == nil {
		return nil
	}
	defer runtime.KeepAlive(e)
	t := make([]byte, 32)
	raw.Goesc_encryptor_hdrtag(e.h, t)
	return t
}

// Close frees the encryptor.
func (e *Encryptor) Close() error {
	if e != nil && e.h != nil {
		raw.Goesc_encryptor_free(e.h)
		e.h = nil
		runtime.SetFinalizer(e, nil)
	}
	return nil
}

// Decryptor is a sans-I/O BKENC v1 decryptor: it releases verified plaintext only, and the
// stream is authentic only once Final returned nil.
type Decryptor struct {
	h   raw.Struct_SS_escrow_decryptor
	cek *Cek // borrowed by the C decryptor
}

// NewDecryptor starts decrypting a v1 stream (opts may be nil).
func NewDecryptor(c *Cek, opts *DecryptOptions) (*Decryptor, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	// the C decryptor borrows the key until the header is verified: closing the Cek first
	// must not free it under the decryptor
	cp, err := c.borrow()
	if err != nil {
		return nil, err
	}
	var h raw.Struct_SS_escrow_decryptor
	if _, err := callPtr(func() uintptr {
		h = raw.Goesc_decryptor_new(cp, opts.path(), opts.tag())
		return h.Swigcptr()
	}); err != nil {
		c.release()
		return nil, err
	}
	d := &Decryptor{h: h, cek: c}
	runtime.SetFinalizer(d, (*Decryptor).Close)
	return d, nil
}

// UpdateBound is the most plaintext bytes Update may write for n input bytes.
func (d *Decryptor) UpdateBound(n int) int {
	if d.h == nil {
		return 0
	}
	defer runtime.KeepAlive(d)
	return int(raw.Goesc_decryptor_update_bound(d.h, int64(n)))
}

// UpdateTo decrypts in into out (len(out) >= UpdateBound(len(in))); returns bytes written.
func (d *Decryptor) UpdateTo(out, in []byte) (int, error) {
	if d.h == nil {
		return 0, errClosed("the decryptor")
	}
	defer runtime.KeepAlive(d)
	defer runtime.KeepAlive(d.cek)
	n, err := call(func() int64 { return raw.Goesc_decryptor_update(d.h, out, in) })
	return int(n), err
}

// Update decrypts in and returns the plaintext verified so far.
func (d *Decryptor) Update(in []byte) ([]byte, error) {
	out := make([]byte, d.UpdateBound(len(in)))
	n, err := d.UpdateTo(out, in)
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// Final verifies and returns the final chunk: only after it returns nil is the whole
// plaintext authentic (ErrTruncated when the input ended early).
func (d *Decryptor) Final() ([]byte, error) {
	if d.h == nil {
		return nil, errClosed("the decryptor")
	}
	defer runtime.KeepAlive(d)
	out := make([]byte, raw.Goesc_decryptor_final_bound(d.h))
	n, err := call(func() int64 { return raw.Goesc_decryptor_final(d.h, out) })
	if err != nil {
		return nil, err
	}
	return out[:n], nil
}

// Header is the verified header, or nil until it has been read and verified.
func (d *Decryptor) Header() *Header {
	if d.h == nil {
		return nil
	}
	defer runtime.KeepAlive(d)
	return headerFrom(raw.Goesc_decryptor_header(d.h))
}

// Close frees the decryptor.
func (d *Decryptor) Close() error {
	if d != nil && d.h != nil {
		raw.Goesc_decryptor_free(d.h)
		d.h = nil
		runtime.SetFinalizer(d, nil)
		d.cek.release()
	}
	return nil
}

// Encrypt encrypts b in memory to a whole v1 file.
func Encrypt(c *Cek, b []byte, opts *EncryptOptions) ([]byte, error) {
	e, err := NewEncryptor(c, opts)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	out, err := e.Update(b)
	if err != nil {
		return nil, err
	}
	f, err := e.Final()
	if err != nil {
		return nil, err
	}
	return append(out, f...), nil
}

// Decrypt decrypts a whole v1 file held in memory; it fails unless all of it is authentic.
func Decrypt(c *Cek, b []byte, opts *DecryptOptions) ([]byte, error) {
	d, err := NewDecryptor(c, opts)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	out, err := d.Update(b)
	if err != nil {
		return nil, err
	}
	f, err := d.Final()
	if err != nil {
		return nil, err
	}
	return append(out, f...), nil
}

// Writer encrypts what is written to it into an io.Writer. Close writes the final chunk;
// Abort drops the stream so the partial output can never decrypt as complete.
type Writer struct {
	w   io.Writer
	e   *Encryptor
	buf []byte
	tag []byte
	err error
}

// NewWriter returns a Writer encrypting to w (opts may be nil).
func NewWriter(w io.Writer, c *Cek, opts *EncryptOptions) (*Writer, error) {
	e, err := NewEncryptor(c, opts)
	if err != nil {
		return nil, err
	}
	return &Writer{w: w, e: e}, nil
}

// Write encrypts p; ciphertext goes to the underlying writer as whole chunks complete.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.e == nil {
		return 0, errClosed("the writer")
	}
	bound := w.e.UpdateBound(len(p))
	if cap(w.buf) < bound {
		w.buf = make([]byte, bound)
	}
	n, err := w.e.UpdateTo(w.buf[:bound], p)
	if err == nil && n > 0 {
		_, err = w.w.Write(w.buf[:n])
	}
	if err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

// Close writes the final chunk and frees the encryptor (it does not close the underlying
// writer).
func (w *Writer) Close() error {
	if w.e == nil {
		return w.err
	}
	defer w.Abort()
	if w.err != nil {
		return w.err
	}
	f, err := w.e.Final()
	if err == nil {
		_, err = w.w.Write(f)
	}
	w.tag = w.e.Hdrtag()
	w.err = err
	return err
}

// Abort frees the encryptor without finishing the stream.
func (w *Writer) Abort() {
	if w.e != nil {
		w.e.Close()
		w.e = nil
	}
}

// Hdrtag is the header tag of the stream, available after Close.
func (w *Writer) Hdrtag() []byte { return w.tag }

// Reader is an io.Reader of the verified plaintext of a v1 stream read from an io.Reader.
// It returns io.EOF only after the final chunk verified.
type Reader struct {
	r       io.Reader
	d       *Decryptor
	in, out []byte
	pos     int
	eof     bool
	err     error
	header  *Header
}

// DefaultBufferSize is the read size of Reader and the buffer of the examples (1 MiB).
const DefaultBufferSize = 1 << 20

// NewReader returns a Reader decrypting r (opts may be nil).
func NewReader(r io.Reader, c *Cek, opts *DecryptOptions) (*Reader, error) {
	d, err := NewDecryptor(c, opts)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r, d: d, in: make([]byte, DefaultBufferSize)}, nil
}

// Read reads verified plaintext.
func (r *Reader) Read(p []byte) (int, error) {
	for r.pos >= len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		if r.eof {
			return 0, io.EOF
		}
		if r.d == nil {
			return 0, errClosed("the reader")
		}
		n, rerr := r.r.Read(r.in)
		r.pos = 0
		if n > 0 {
			bound := r.d.UpdateBound(n)
			if cap(r.out) < bound {
				r.out = make([]byte, bound)
			}
			w, err := r.d.UpdateTo(r.out[:bound], r.in[:n])
			if err != nil {
				r.err = err
				r.out = r.out[:0]
				return 0, err
			}
			r.out = r.out[:w]
		} else {
			r.out = r.out[:0]
		}
		if rerr == io.EOF {
			f, err := r.d.Final()
			if err != nil {
				r.err = err
				return 0, err
			}
			r.header = r.d.Header()
			r.out = append(r.out, f...)
			r.eof = true
		} else if rerr != nil {
			r.err = rerr
		}
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}

// Header is the verified header (after the first chunk was read).
func (r *Reader) Header() *Header {
	if r.header != nil {
		return r.header
	}
	if r.d == nil {
		return nil
	}
	return r.d.Header()
}

// Close frees the decryptor (it does not close the underlying reader).
func (r *Reader) Close() error {
	if r.d != nil {
		r.d.Close()
		r.d = nil
	}
	return nil
}

// File gives random access (io.ReaderAt) to the verified plaintext of a v1 file.
type File struct {
	h    raw.Struct_SS_escrow_reader
	size int64
	cek  *Cek
}

// OpenFile opens a v1 file for random access (opts may be nil).
func OpenFile(path string, c *Cek, opts *DecryptOptions) (*File, error) {
	cp, err := c.ptr()
	if err != nil {
		return nil, err
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(c)
	var h raw.Struct_SS_escrow_reader
	if _, err := callPtr(func() uintptr {
		h = raw.Goesc_reader_open_file(cp, path, opts.path(), opts.tag())
		return h.Swigcptr()
	}); err != nil {
		return nil, err
	}
	f := &File{h: h, size: raw.Goesc_reader_size(h), cek: c}
	runtime.SetFinalizer(f, (*File).Close)
	return f, nil
}

// Size is the plaintext size.
func (f *File) Size() int64 { return f.size }

// ReadAt reads verified plaintext at off (io.ReaderAt: io.EOF when short at the end).
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if f.h == nil {
		return 0, errClosed("the file")
	}
	defer runtime.KeepAlive(f)
	n, err := call(func() int64 { return raw.Goesc_reader_pread(f.h, p, off) })
	if err != nil {
		return 0, err
	}
	if int(n) < len(p) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// Header is the file's verified header.
func (f *File) Header() *Header {
	if f.h == nil {
		return nil
	}
	defer runtime.KeepAlive(f)
	return headerFrom(raw.Goesc_reader_header(f.h))
}

// Close closes the file.
func (f *File) Close() error {
	if f != nil && f.h != nil {
		raw.Goesc_reader_free(f.h)
		f.h = nil
		runtime.SetFinalizer(f, nil)
	}
	return nil
}

// EncryptFile encrypts a file atomically (v1 or v0) and returns the v1 header tag.
func EncryptFile(c *Cek, inPath, outPath string, format FileFormat, opts *EncryptOptions) ([]byte, error) {
	cp, err := c.ptr()
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &EncryptOptions{}
	}
	if format == FormatUnknown {
		format = FormatV1
	}
	defer runtime.KeepAlive(c)
	x := opts.Context
	tag := make([]byte, 32)
	_, err = call(func() int64 {
		return int64(raw.Goesc_encrypt_file(cp, int(format), opts.Log2CS, x.ProjectID, x.Role,
			x.Asset, x.Path, x.KeyID, inPath, outPath, tag))
	})
	if err != nil {
		return nil, err
	}
	if format == FormatV0 {
		return nil, nil
	}
	return tag, nil
}

// DecryptFile decrypts a v1 or v0 file atomically: after a failure no plaintext is on disk.
func DecryptFile(c *Cek, inPath, outPath string, opts *DecryptOptions) error {
	cp, err := c.ptr()
	if err != nil {
		return err
	}
	if err := opts.check(); err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	_, err = call(func() int64 {
		return int64(raw.Goesc_decrypt_file(cp, inPath, outPath, opts.path(), opts.tag()))
	})
	return err
}

// LegacyDecrypt decrypts a whole v0 ("Salted__") file held in memory (tag checked first).
func LegacyDecrypt(c *Cek, b []byte) ([]byte, error) {
	cp, err := c.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(c)
	return callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_legacy_decrypt_mem(cp, b) })
}

