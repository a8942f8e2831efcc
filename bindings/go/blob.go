package escrow

import (
	"bytes"
	"runtime"
	"strconv"

	"libescrow/bindings/go/internal/raw"
)

// Blob client flags.
const (
	BlobAllowLoopbackHTTP = 0x1 // accept http:// on a loopback host (Azurite)
	BlobPathStyle         = 0x2 // the account is the first path segment on any host
)

// BlobOptions for OpenBlob (nil: defaults).
type BlobOptions struct {
	Flags      uint
	MaxRetries uint   // attempts after the first; 0 means 8
	CAFile     string // a PEM bundle to trust instead of the system's (tests)
}

// BlobClient is a client for one container SAS URL or one file:// folder. Transfers retry
// transient failures. Used by one goroutine at a time.
type BlobClient struct{ h raw.Struct_SS_escrow_blob_client }

// BlobItem is one entry of a listing.
type BlobItem struct {
	Name         string
	Size         int64
	ContentMD5   string // base64, or "" when none is stored
	ETag         string
	LastModified string
}

// BlobStats counts what a client did.
type BlobStats struct{ Requests, Retries, BytesDown, BytesUp int64 }

// OpenBlob opens a client for a container SAS URL or a file:// folder.
func OpenBlob(url string, opts *BlobOptions) (*BlobClient, error) {
	if opts == nil {
		opts = &BlobOptions{}
	}
	var h raw.Struct_SS_escrow_blob_client
	if _, err := callPtr(func() uintptr {
		h = raw.Goesc_blob_open(url, opts.Flags, opts.MaxRetries, opts.CAFile)
		return h.Swigcptr()
	}); err != nil {
		return nil, err
	}
	c := &BlobClient{h: h}
	runtime.SetFinalizer(c, (*BlobClient).Close)
	return c, nil
}

func (c *BlobClient) ptr() (raw.Struct_SS_escrow_blob_client, error) {
	if c == nil || c.h == nil {
		return nil, errClosed("the blob client")
	}
	return c.h, nil
}

// List returns the blobs whose names start with prefix, in name order (all pages).
func (c *BlobClient) List(prefix string) ([]BlobItem, error) {
	p, err := c.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(c)
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_blob_list(p, prefix) })
	if err != nil {
		return nil, err
	}
	f := bytes.Split(b, []byte{0})
	var out []BlobItem
	for i := 0; i+5 <= len(f); i += 5 {
		size, _ := strconv.ParseInt(string(f[i+1]), 10, 64)
		out = append(out, BlobItem{string(f[i]), size, string(f[i+2]), string(f[i+3]), string(f[i+4])})
	}
	return out, nil
}

// Stat returns a blob's size and stored Content-MD5 (base64, "" if none).
func (c *BlobClient) Stat(name string) (int64, string, error) {
	p, err := c.ptr()
	if err != nil {
		return 0, "", err
	}
	defer runtime.KeepAlive(c)
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_blob_stat(p, name) })
	if err != nil {
		return 0, "", err
	}
	f := bytes.SplitN(b, []byte{0}, 2)
	size, _ := strconv.ParseInt(string(f[0]), 10, 64)
	md5 := ""
	if len(f) > 1 {
		md5 = string(f[1])
	}
	return size, md5, nil
}

// Get returns length bytes of a blob from offset (length < 0: to the end) in memory.
func (c *BlobClient) Get(name string, offset, length int64) ([]byte, error) {
	p, err := c.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(c)
	return callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_blob_get(p, name, offset, length) })
}

// GetFile downloads a blob to a file, atomically.
func (c *BlobClient) GetFile(name, outPath string) error {
	p, err := c.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	_, err = call(func() int64 { return int64(raw.Goesc_blob_get_file(p, name, outPath)) })
	return err
}

// GetDecryptFile downloads and decrypts a BKENC blob to a file; no plaintext is left behind
// after a failure.
func (c *BlobClient) GetDecryptFile(name string, cek *Cek, outPath string, opts *DecryptOptions) error {
	p, err := c.ptr()
	if err != nil {
		return err
	}
	cp, err := cek.ptr()
	if err != nil {
		return err
	}
	if err := opts.check(); err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	defer runtime.KeepAlive(cek)
	_, err = call(func() int64 {
		return int64(raw.Goesc_blob_get_decrypt_file(p, name, cp, opts.path(), opts.tag(), outPath))
	})
	return err
}

// PutFile uploads a file as blob name. With skipSame, nothing is sent when the blob already
// has the file's size and MD5; the result tells whether that happened.
func (c *BlobClient) PutFile(name, path string, skipSame bool) (bool, error) {
	p, err := c.ptr()
	if err != nil {
		return false, err
	}
	defer runtime.KeepAlive(c)
	flags := uint(0)
	if skipSame {
		flags = 1
	}
	n, err := call(func() int64 { return int64(raw.Goesc_blob_put_file(p, name, path, flags)) })
	return n == 1, err
}

// Stats counts the client's requests, retries and bytes.
func (c *BlobClient) Stats() BlobStats {
	p, err := c.ptr()
	if err != nil {
		return BlobStats{}
	}
	defer runtime.KeepAlive(c)
	return BlobStats{raw.Goesc_blob_stat_field(p, 0), raw.Goesc_blob_stat_field(p, 1),
		raw.Goesc_blob_stat_field(p, 2), raw.Goesc_blob_stat_field(p, 3)}
}

// Close frees the client.
func (c *BlobClient) Close() error {
	if c != nil && c.h != nil {
		raw.Goesc_blob_close(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}
