package escrow

import (
	"runtime"
	"sync"

	"libescrow/bindings/go/internal/raw"
)

// CekEncoding is how a CEK file is written.
type CekEncoding int

// CEK file encodings.
const (
	CekRaw    CekEncoding = 0 // 32 raw bytes
	CekBase64 CekEncoding = 1 // base64 and one newline
)

// KeyEncoding is how a KEK is exported.
type KeyEncoding int

// KEK encodings.
const (
	KeyDER    KeyEncoding = 0
	KeyPEM    KeyEncoding = 1
	KeyBase64 KeyEncoding = 2
)

// OaepHash selects RSA-OAEP's hash for wrapping CEKs.
type OaepHash int

// OAEP hashes.
const (
	OaepAuto   OaepHash = 0 // wrap: SHA-256; unwrap: SHA-256 then SHA-1
	OaepSHA256 OaepHash = 1
	OaepSHA1   OaepHash = 2
)

// Cek is a 32-byte content encryption key held in libescrow's protected memory.
type Cek struct {
	mu        sync.Mutex
	h         raw.Struct_SS_escrow_cek
	closed    bool
	borrowers int // decryptors whose C object keeps using the key
}

func newCek(h raw.Struct_SS_escrow_cek) *Cek {
	c := &Cek{h: h}
	runtime.SetFinalizer(c, (*Cek).Close)
	return c
}

func (c *Cek) ptr() (raw.Struct_SS_escrow_cek, error) {
	if c == nil {
		return nil, errClosed("the CEK")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.h == nil {
		return nil, errClosed("the CEK")
	}
	return c.h, nil
}

// borrow marks the key as used by a C object that outlives the call (a decryptor).
func (c *Cek) borrow() (raw.Struct_SS_escrow_cek, error) {
	if c == nil {
		return nil, errClosed("the CEK")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.h == nil {
		return nil, errClosed("the CEK")
	}
	c.borrowers++
	return c.h, nil
}

func (c *Cek) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.borrowers--
	if c.borrowers == 0 && c.closed && c.h != nil {
		raw.Goesc_cek_free(c.h)
		c.h = nil
	}
}

// GenerateCek makes a new random CEK.
func GenerateCek() (*Cek, error) {
	var h raw.Struct_SS_escrow_cek
	if _, err := callPtr(func() uintptr { h = raw.Goesc_cek_generate(); return h.Swigcptr() }); err != nil {
		return nil, err
	}
	return newCek(h), nil
}

// CekFromBytes reads a CEK: 32 raw bytes, or canonical base64 of 32 bytes.
func CekFromBytes(b []byte) (*Cek, error) {
	var h raw.Struct_SS_escrow_cek
	if _, err := callPtr(func() uintptr { h = raw.Goesc_cek_from_bytes(b); return h.Swigcptr() }); err != nil {
		return nil, err
	}
	return newCek(h), nil
}

// LoadCek reads a CEK file.
func LoadCek(path string) (*Cek, error) {
	var h raw.Struct_SS_escrow_cek
	if _, err := callPtr(func() uintptr { h = raw.Goesc_cek_load(path); return h.Swigcptr() }); err != nil {
		return nil, err
	}
	return newCek(h), nil
}

// Save writes the CEK with mode 0600; an existing file is never replaced (ErrExists).
func (c *Cek) Save(path string, enc CekEncoding) error {
	p, err := c.ptr()
	if err != nil {
		return err
	}
	_, err = call(func() int64 { return int64(raw.Goesc_cek_save(p, path, int(enc))) })
	runtime.KeepAlive(c)
	return err
}

// Bytes exports the 32 key bytes (keep such copies to a minimum).
func (c *Cek) Bytes() ([]byte, error) {
	p, err := c.ptr()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 32)
	_, err = call(func() int64 { return int64(raw.Goesc_cek_export(p, out)) })
	runtime.KeepAlive(c)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Equal compares two CEKs in constant time.
func (c *Cek) Equal(o *Cek) bool {
	a, err1 := c.ptr()
	b, err2 := o.ptr()
	if err1 != nil || err2 != nil {
		return false
	}
	r := raw.Goesc_cek_equal(a, b) == 1
	runtime.KeepAlive(c)
	runtime.KeepAlive(o)
	return r
}

// Close wipes and frees the key; when a live Decryptor still needs it, that happens when the
// decryptor is closed. Either way the Cek is unusable from now on. Closing twice is harmless.
func (c *Cek) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	runtime.SetFinalizer(c, nil)
	if c.borrowers == 0 && c.h != nil {
		raw.Goesc_cek_free(c.h)
		c.h = nil
	}
	return nil
}

func takeBuf(b raw.Struct_SS_goesc_buf) []byte {
	out := make([]byte, raw.Goesc_buf_len(b))
	raw.Goesc_buf_take(b, out)
	return out
}

func callBuf(f func() raw.Struct_SS_goesc_buf) ([]byte, error) {
	var b raw.Struct_SS_goesc_buf
	if _, err := callPtr(func() uintptr { b = f(); return b.Swigcptr() }); err != nil {
		return nil, err
	}
	return takeBuf(b), nil
}

// CekFilename is a fresh "cek_<uuid4>.key" (manual §12.5).
func CekFilename() (string, error) {
	b, err := callBuf(raw.Goesc_cek_filename)
	return string(b), err
}

// WcekFilename is a fresh "wcek_<uuid4>.key.bkenc" (manual §12.5).
func WcekFilename() (string, error) {
	b, err := callBuf(raw.Goesc_wcek_filename)
	return string(b), err
}

// Kek is an RSA key pair (or its public half) that wraps CEKs.
type Kek struct{ h raw.Struct_SS_escrow_kek }

func newKek(h raw.Struct_SS_escrow_kek) *Kek {
	k := &Kek{h: h}
	runtime.SetFinalizer(k, (*Kek).Close)
	return k
}

func kekFrom(f func() raw.Struct_SS_escrow_kek) (*Kek, error) {
	var h raw.Struct_SS_escrow_kek
	if _, err := callPtr(func() uintptr { h = f(); return h.Swigcptr() }); err != nil {
		return nil, err
	}
	return newKek(h), nil
}

// GenerateKek makes an RSA key pair (bits 0 means 4096).
func GenerateKek(bits uint) (*Kek, error) {
	return kekFrom(func() raw.Struct_SS_escrow_kek { return raw.Goesc_kek_generate(bits) })
}

// KekPublicFromBytes reads a public key: SPKI DER, PEM or base64 of the DER.
func KekPublicFromBytes(b []byte) (*Kek, error) {
	return kekFrom(func() raw.Struct_SS_escrow_kek { return raw.Goesc_kek_public_from_bytes(b) })
}

// KekPrivateFromBytes reads an unencrypted PKCS#8 (or PKCS#1) private key, PEM or DER.
func KekPrivateFromBytes(b []byte) (*Kek, error) {
	return kekFrom(func() raw.Struct_SS_escrow_kek { return raw.Goesc_kek_private_from_bytes(b) })
}

// LoadKekPublic reads a public key file.
func LoadKekPublic(path string) (*Kek, error) {
	return kekFrom(func() raw.Struct_SS_escrow_kek { return raw.Goesc_kek_public_load(path) })
}

// LoadKekPrivate reads a private key file.
func LoadKekPrivate(path string) (*Kek, error) {
	return kekFrom(func() raw.Struct_SS_escrow_kek { return raw.Goesc_kek_private_load(path) })
}

func (k *Kek) ptr() (raw.Struct_SS_escrow_kek, error) {
	if k == nil || k.h == nil {
		return nil, errClosed("the KEK")
	}
	return k.h, nil
}

// PublicBytes exports the public half (SPKI) in the given encoding.
func (k *Kek) PublicBytes(enc KeyEncoding) ([]byte, error) {
	p, err := k.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(k)
	return callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_kek_public_export(p, int(enc)) })
}

// PrivateBytes exports the private half as unencrypted PKCS#8 (the C copy is wiped; the
// returned slice is ordinary Go memory).
func (k *Kek) PrivateBytes(enc KeyEncoding) ([]byte, error) {
	p, err := k.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(k)
	return callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_kek_private_export(p, int(enc)) })
}

// SavePublic writes the public half (PEM, or DER for other encodings); never replaces a file.
func (k *Kek) SavePublic(path string, enc KeyEncoding) error {
	p, err := k.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(k)
	_, err = call(func() int64 { return int64(raw.Goesc_kek_public_save(p, path, int(enc))) })
	return err
}

// SavePrivate writes the private half as PKCS#8 PEM with mode 0600.
func (k *Kek) SavePrivate(path string) error {
	p, err := k.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(k)
	_, err = call(func() int64 { return int64(raw.Goesc_kek_private_save(p, path)) })
	return err
}

// HasPrivate tells whether the handle holds the private half.
func (k *Kek) HasPrivate() bool {
	p, err := k.ptr()
	if err != nil {
		return false
	}
	defer runtime.KeepAlive(k)
	return raw.Goesc_kek_has_private(p) == 1
}

// Bits is the modulus size.
func (k *Kek) Bits() int {
	p, err := k.ptr()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(k)
	return int(raw.Goesc_kek_bits(p))
}

// KeyID is "sha256:<hex>" of the SPKI DER (BKENC context 0x05).
func (k *Kek) KeyID() (string, error) {
	p, err := k.ptr()
	if err != nil {
		return "", err
	}
	defer runtime.KeepAlive(k)
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_kek_key_id(p) })
	return string(b), err
}

// Wrap wraps a CEK with RSA-OAEP (OaepAuto means SHA-256).
func (k *Kek) Wrap(c *Cek, hash OaepHash) ([]byte, error) {
	p, err := k.ptr()
	if err != nil {
		return nil, err
	}
	cp, err := c.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(k)
	defer runtime.KeepAlive(c)
	return callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_wcek_wrap(p, cp, int(hash)) })
}

// Unwrap unwraps a WCEK with the private half and tells which OAEP hash worked.
func (k *Kek) Unwrap(wcek []byte, hash OaepHash) (*Cek, OaepHash, error) {
	p, err := k.ptr()
	if err != nil {
		return nil, 0, err
	}
	defer runtime.KeepAlive(k)
	used := make([]byte, 1)
	var h raw.Struct_SS_escrow_cek
	if _, err := callPtr(func() uintptr {
		h = raw.Goesc_wcek_unwrap(p, wcek, int(hash), used)
		return h.Swigcptr()
	}); err != nil {
		return nil, 0, err
	}
	return newCek(h), OaepHash(used[0]), nil
}

// Close frees the key (wiping the private half). Closing twice is harmless.
func (k *Kek) Close() error {
	if k != nil && k.h != nil {
		raw.Goesc_kek_free(k.h)
		k.h = nil
		runtime.SetFinalizer(k, nil)
	}
	return nil
}
