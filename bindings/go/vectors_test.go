package escrow

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func vectorsDir(t testing.TB) string {
	d := os.Getenv("ESCROW_TEST_VECTORS")
	if d == "" {
		d = filepath.Join("..", "..", "tests", "vectors")
	}
	if _, err := os.Stat(filepath.Join(d, "keys", "vectors.json")); err != nil {
		t.Fatalf("test vectors not found in %s (set ESCROW_TEST_VECTORS)", d)
	}
	return d
}

func loadJSON(t testing.TB, sub string, v interface{}) {
	b, err := os.ReadFile(filepath.Join(vectorsDir(t), sub, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// outcome is "ok" or the ESCROW_E_* name of err (which must be an *Error with a message).
func outcome(t *testing.T, name string, err error) string {
	if err == nil {
		return "ok"
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %v is not an *escrow.Error", name, err)
	}
	if e.Message == "" {
		t.Fatalf("%s: error without a message", name)
	}
	if !errors.Is(err, e.Code) {
		t.Fatalf("%s: errors.Is does not match the code", name)
	}
	return e.Code.Name()
}

func mustCek(t testing.TB, h string) *Cek {
	b, _ := hex.DecodeString(h)
	c, err := CekFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func want(v map[string]interface{}, key string) string {
	if s, ok := v[key].(string); ok {
		return s
	}
	return "ok"
}

func TestKeyVectors(t *testing.T) {
	var kv map[string]interface{}
	loadJSON(t, "keys", &kv)
	dir := filepath.Join(vectorsDir(t), "keys")
	for _, x := range kv["cek"].([]interface{}) {
		v := x.(map[string]interface{})
		in, _ := hex.DecodeString(v["input_hex"].(string))
		c, err := CekFromBytes(in)
		if got := outcome(t, v["name"].(string), err); got != want(v, "error") {
			t.Errorf("cek %s: got %s, want %s", v["name"], got, want(v, "error"))
		}
		if err == nil {
			b, _ := c.Bytes()
			if hex.EncodeToString(b) != v["cek_hex"] {
				t.Errorf("cek %s: wrong key", v["name"])
			}
			c.Close()
		}
	}
	for _, kind := range []string{"kek_public", "kek_private"} {
		for _, x := range kv[kind].([]interface{}) {
			v := x.(map[string]interface{})
			var in []byte
			if f, ok := v["file"].(string); ok {
				in, _ = os.ReadFile(filepath.Join(dir, f))
			} else {
				in, _ = base64.StdEncoding.DecodeString(v["input_b64"].(string))
			}
			var k *Kek
			var err error
			if kind == "kek_public" {
				k, err = KekPublicFromBytes(in)
			} else {
				k, err = KekPrivateFromBytes(in)
			}
			if got := outcome(t, v["name"].(string), err); got != want(v, "error") {
				t.Errorf("%s %s: got %s, want %s", kind, v["name"], got, want(v, "error"))
			}
			if err == nil {
				id, _ := k.KeyID()
				if k.Bits() != int(v["bits"].(float64)) || id != v["key_id"] || k.HasPrivate() != (kind == "kek_private") {
					t.Errorf("%s %s: bits %d id %s", kind, v["name"], k.Bits(), id)
				}
				k.Close()
			}
		}
	}
	hashes := map[string]OaepHash{"auto": OaepAuto, "sha256": OaepSHA256, "sha1": OaepSHA1}
	for _, x := range kv["wcek_unwrap"].([]interface{}) {
		v := x.(map[string]interface{})
		k, err := LoadKekPrivate(filepath.Join(dir, v["private_key"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := base64.StdEncoding.DecodeString(v["wcek_b64"].(string))
		c, used, err := k.Unwrap(w, hashes[v["oaep"].(string)])
		if got := outcome(t, v["name"].(string), err); got != want(v, "error") {
			t.Errorf("wcek %s: got %s, want %s", v["name"], got, want(v, "error"))
		}
		if err == nil {
			b, _ := c.Bytes()
			if hex.EncodeToString(b) != v["cek_hex"] {
				t.Errorf("wcek %s: wrong key", v["name"])
			}
			if u, ok := v["used"].(string); ok && hashes[u] != used {
				t.Errorf("wcek %s: used %d", v["name"], used)
			}
		}
		k.Close()
	}
}

type bkencVector struct {
	Name    string            `json:"name"`
	File    string            `json:"file"`
	Cek     string            `json:"cek"`
	Expect  string            `json:"expect"`
	Size    int               `json:"plaintext_size"`
	SHA256  string            `json:"plaintext_sha256"`
	Options map[string]string `json:"options"`
}

func decryptSplit(c *Cek, data []byte, opts *DecryptOptions, step int) ([]byte, error) {
	d, err := NewDecryptor(c, opts)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var out []byte
	for i := 0; i < len(data); i += step {
		end := i + step
		if end > len(data) {
			end = len(data)
		}
		p, err := d.Update(data[i:end])
		if err != nil {
			return out, err
		}
		out = append(out, p...)
	}
	f, err := d.Final()
	return append(out, f...), err
}

func TestBkencVectors(t *testing.T) {
	var set struct{ Vectors []bkencVector }
	loadJSON(t, "bkenc", &set)
	for _, v := range set.Vectors {
		data, err := os.ReadFile(filepath.Join(vectorsDir(t), "bkenc", v.File))
		if err != nil {
			t.Fatal(err)
		}
		opts := &DecryptOptions{ExpectPath: v.Options["expect_path"]}
		if h, ok := v.Options["expect_hdrtag"]; ok {
			opts.ExpectHdrtag, _ = hex.DecodeString(h)
		}
		c := mustCek(t, v.Cek)
		for _, step := range []int{len(data) + 1, 7, 4099} {
			pt, err := decryptSplit(c, data, opts, step)
			if got := outcome(t, v.Name, err); got != v.Expect {
				t.Errorf("%s (split %d): got %s, want %s", v.Name, step, got, v.Expect)
				continue
			}
			if err == nil {
				sum := sha256.Sum256(pt)
				if len(pt) != v.Size || hex.EncodeToString(sum[:]) != v.SHA256 {
					t.Errorf("%s: plaintext differs", v.Name)
				}
			}
		}
		// the io.Reader gives the same outcome
		r, _ := NewReader(bytes.NewReader(data), c, opts)
		var buf bytes.Buffer
		_, err = buf.ReadFrom(r)
		if got := outcome(t, v.Name, err); got != v.Expect {
			t.Errorf("%s (Reader): got %s, want %s", v.Name, got, v.Expect)
		}
		r.Close()
		c.Close()
	}
}

func TestV0Vectors(t *testing.T) {
	var set struct{ Vectors []map[string]interface{} }
	loadJSON(t, "v0", &set)
	n := 0
	for _, v := range set.Vectors {
		_, hasErr := v["error"]
		_, hasSum := v["sha256"]
		if !hasErr && !hasSum {
			continue
		}
		n++
		data, _ := os.ReadFile(filepath.Join(vectorsDir(t), "v0", v["file"].(string)))
		pt, err := LegacyDecrypt(mustCek(t, v["cek"].(string)), data)
		if got := outcome(t, v["name"].(string), err); got != want(v, "error") {
			t.Errorf("%s: got %s, want %s", v["name"], got, want(v, "error"))
		}
		if err == nil {
			sum := sha256.Sum256(pt)
			if hex.EncodeToString(sum[:]) != v["sha256"] {
				t.Errorf("%s: plaintext differs", v["name"])
			}
		}
	}
	if n < 15 {
		t.Fatalf("only %d v0 vectors ran", n)
	}
}

func TestPackageVectors(t *testing.T) {
	var set struct {
		Cek     string
		Vectors []struct {
			Name    string
			Zip     string
			Open    string
			Cek     string
			Entries []string
			Secrets [][]string
			Limits  map[string]int64
			Check   *struct {
				Passed   bool
				Statuses map[string]string
			}
			Extract string
			Files   map[string]string
		}
	}
	loadJSON(t, "packages", &set)
	for _, v := range set.Vectors {
		lim := &ZipLimits{MaxEntries: v.Limits["max_entries"], MaxEntrySize: v.Limits["max_entry_size"],
			MaxTotalSize: v.Limits["max_total_size"]}
		a, err := OpenAlgorithm(filepath.Join(vectorsDir(t), "packages", v.Zip), lim)
		if got := outcome(t, v.Name, err); got != v.Open {
			t.Errorf("%s: open got %s, want %s", v.Name, got, v.Open)
		}
		if err != nil {
			continue
		}
		if v.Entries != nil && len(a.Entries()) != len(v.Entries) {
			t.Errorf("%s: entries %v", v.Name, a.Entries())
		}
		if v.Secrets != nil {
			s := a.Secrets()
			if len(s) != len(v.Secrets) {
				t.Errorf("%s: secrets %v", v.Name, s)
			}
			for i := range s {
				if i < len(v.Secrets) && (s[i].Encrypted != v.Secrets[i][0] || s[i].Original != v.Secrets[i][1]) {
					t.Errorf("%s: secret %d %v", v.Name, i, s[i])
				}
			}
		}
		if v.Check != nil {
			passed, checks, err := a.Check(-1)
			if err != nil || passed != v.Check.Passed {
				t.Errorf("%s: check passed=%v err=%v", v.Name, passed, err)
			}
			for _, c := range checks {
				if v.Check.Statuses[c.Name] != c.Status {
					t.Errorf("%s: check %q is %q", v.Name, c.Name, c.Status)
				}
			}
		}
		if v.Extract != "" {
			key := set.Cek
			if v.Cek != "" {
				key = v.Cek
			}
			out := filepath.Join(t.TempDir(), "out")
			err := a.Extract(mustCek(t, key), out)
			if got := outcome(t, v.Name, err); got != v.Extract {
				t.Errorf("%s: extract got %s, want %s", v.Name, got, v.Extract)
			}
			if err != nil {
				if _, serr := os.Stat(out); serr == nil {
					t.Errorf("%s: a failed extraction left %s", v.Name, out)
				}
			}
			for name, digest := range v.Files {
				b, _ := os.ReadFile(filepath.Join(out, name))
				sum := sha256.Sum256(b)
				if hex.EncodeToString(sum[:]) != digest {
					t.Errorf("%s: %s differs", v.Name, name)
				}
			}
		}
		a.Close()
	}
}
