package escrow

import (
	"encoding/json"
	"runtime"
	"strings"

	"libescrow/bindings/go/internal/raw"
)

// PackOptions for PackAlgorithm.
type PackOptions struct {
	Format  FileFormat // FormatV1 (default) or FormatV0
	Context Context    // Path is set per file
}

// PackAlgorithm packs an algorithm folder into outZip: each path in secrets is encrypted to
// "<path>.bkenc" and secrets.yaml generated (no secrets: the folder's secrets.yaml is used).
func PackAlgorithm(dir string, c *Cek, secrets []string, outZip string, opts *PackOptions) error {
	cp, err := c.ptr()
	if err != nil {
		return err
	}
	for _, s := range secrets {
		if s == "" || strings.ContainsAny(s, "\n\x00") {
			return &Error{Code: ErrInvalid, Message: "a secret path is empty or holds a newline or NUL"}
		}
	}
	if opts == nil {
		opts = &PackOptions{}
	}
	f := opts.Format
	if f == FormatUnknown {
		f = FormatV1
	}
	x := opts.Context
	defer runtime.KeepAlive(c)
	_, err = call(func() int64 {
		return int64(raw.Goesc_algorithm_pack(dir, cp, strings.Join(secrets, "\n"), int(f),
			x.ProjectID, x.Role, x.Asset, x.KeyID, outZip))
	})
	return err
}

// ZipLimits bound what OpenAlgorithm accepts; zero fields keep libescrow's defaults.
type ZipLimits struct {
	MaxEntries, MaxEntrySize, MaxTotalSize int64
	MaxRatio                               uint
}

// Algorithm is an opened algorithm zip.
type Algorithm struct{ h raw.Struct_SS_escrow_algorithm }

// Secret is one secretFiles pair of secrets.yaml.
type Secret struct{ Encrypted, Original string }

// Check is one upload check (manual §14.5.5.1).
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "passed", "failed" or "not checked"
	Detail string `json:"detail"`
}

// OpenAlgorithm opens an algorithm zip (limits may be nil).
func OpenAlgorithm(zipPath string, limits *ZipLimits) (*Algorithm, error) {
	if limits == nil {
		limits = &ZipLimits{}
	}
	var h raw.Struct_SS_escrow_algorithm
	if _, err := callPtr(func() uintptr {
		h = raw.Goesc_algorithm_open(zipPath, limits.MaxEntries, limits.MaxEntrySize,
			limits.MaxTotalSize, limits.MaxRatio)
		return h.Swigcptr()
	}); err != nil {
		return nil, err
	}
	a := &Algorithm{h: h}
	runtime.SetFinalizer(a, (*Algorithm).Close)
	return a, nil
}

// Entries lists the files of the zip in zip order.
func (a *Algorithm) Entries() []string {
	if a.h == nil {
		return nil
	}
	defer runtime.KeepAlive(a)
	n := raw.Goesc_algorithm_entry_count(a.h)
	out := make([]string, 0, n)
	for i := int64(0); i < n; i++ {
		out = append(out, raw.Goesc_algorithm_entry_name(a.h, i))
	}
	return out
}

// Secrets lists the secretFiles pairs.
func (a *Algorithm) Secrets() []Secret {
	if a.h == nil {
		return nil
	}
	defer runtime.KeepAlive(a)
	n := raw.Goesc_algorithm_secret_count(a.h)
	out := make([]Secret, 0, n)
	for i := int64(0); i < n; i++ {
		out = append(out, Secret{raw.Goesc_algorithm_secret(a.h, i, 0), raw.Goesc_algorithm_secret(a.h, i, 1)})
	}
	return out
}

// Check runs the upload checks; wcekPresent: 1 yes, 0 no, -1 not known ("not checked").
func (a *Algorithm) Check(wcekPresent int) (bool, []Check, error) {
	if a.h == nil {
		return false, nil, errClosed("the package")
	}
	defer runtime.KeepAlive(a)
	b, err := callBuf(func() raw.Struct_SS_goesc_buf { return raw.Goesc_algorithm_check(a.h, wcekPresent) })
	if err != nil {
		return false, nil, err
	}
	var r struct {
		Passed bool    `json:"passed"`
		Checks []Check `json:"checks"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return false, nil, err
	}
	return r.Passed, r.Checks, nil
}

// Extract extracts the package to outDir (must not exist), decrypting the secrets.
func (a *Algorithm) Extract(c *Cek, outDir string) error {
	if a.h == nil {
		return errClosed("the package")
	}
	cp, err := c.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(a)
	defer runtime.KeepAlive(c)
	_, err = call(func() int64 { return int64(raw.Goesc_algorithm_extract(a.h, cp, outDir)) })
	return err
}

// Close frees the package.
func (a *Algorithm) Close() error {
	if a != nil && a.h != nil {
		raw.Goesc_algorithm_free(a.h)
		a.h = nil
		runtime.SetFinalizer(a, nil)
	}
	return nil
}

// DatasetOptions for EncryptDataset and DecryptDataset.
type DatasetOptions struct {
	Format          FileFormat // encrypt: FormatV1 (default) or FormatV0 (no manifest)
	Context         Context    // encrypt: written; decrypt: set fields must match. Path unused.
	DatasetVersion  string     // encrypt: written in the manifest
	RequireManifest bool       // decrypt: refuse a folder without a manifest
}

// EncryptDataset encrypts every file under inDir to outDir/<relpath>.bkenc plus a manifest.
func EncryptDataset(inDir, outDir string, c *Cek, opts *DatasetOptions) error {
	cp, err := c.ptr()
	if err != nil {
		return err
	}
	if opts == nil {
		opts = &DatasetOptions{}
	}
	f := opts.Format
	if f == FormatUnknown {
		f = FormatV1
	}
	x := opts.Context
	defer runtime.KeepAlive(c)
	_, err = call(func() int64 {
		return int64(raw.Goesc_dataset_encrypt(inDir, outDir, cp, int(f), x.ProjectID, x.Role,
			x.Asset, x.KeyID, opts.DatasetVersion))
	})
	return err
}

// DecryptDataset decrypts a dataset folder; with a manifest, everything is checked before any
// plaintext is written (ErrMismatch for missing, added, swapped or rolled-back files).
func DecryptDataset(inDir, outDir string, c *Cek, opts *DatasetOptions) error {
	cp, err := c.ptr()
	if err != nil {
		return err
	}
	if opts == nil {
		opts = &DatasetOptions{}
	}
	req := 0
	if opts.RequireManifest {
		req = 1
	}
	x := opts.Context
	defer runtime.KeepAlive(c)
	_, err = call(func() int64 {
		return int64(raw.Goesc_dataset_decrypt(inDir, outDir, cp, req, x.ProjectID, x.Role,
			x.Asset, x.KeyID))
	})
	return err
}

// ManifestEntry is one file of a dataset manifest.
type ManifestEntry struct {
	Path   string
	Size   int64
	Hdrtag []byte
}

// Manifest is a decrypted dataset manifest, copied into Go values.
type Manifest struct {
	DatasetVersion string
	Entries        []ManifestEntry
}

// DecodeManifest decrypts and parses a manifest file's bytes.
func DecodeManifest(c *Cek, b []byte) (*Manifest, error) {
	cp, err := c.ptr()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(c)
	var h raw.Struct_SS_escrow_manifest
	if _, err := callPtr(func() uintptr { h = raw.Goesc_manifest_decode(cp, b); return h.Swigcptr() }); err != nil {
		return nil, err
	}
	defer raw.Goesc_manifest_free(h)
	m := &Manifest{DatasetVersion: raw.Goesc_manifest_dataset_version(h)}
	n := raw.Goesc_manifest_count(h)
	for i := int64(0); i < n; i++ {
		e := ManifestEntry{Path: raw.Goesc_manifest_path(h, i), Size: raw.Goesc_manifest_size(h, i),
			Hdrtag: make([]byte, 32)}
		raw.Goesc_manifest_hdrtag(h, i, e.Hdrtag)
		m.Entries = append(m.Entries, e)
	}
	return m, nil
}

// Find returns the index of path, or -1.
func (m *Manifest) Find(path string) int {
	for i, e := range m.Entries {
		if e.Path == path {
			return i
		}
	}
	return -1
}
