package escrow

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// platform starts escrowd (ESCROWD_BIN) on a free loopback port with an AO and a DS in one
// project; it is stopped when the test ends.
type platform struct{ base, project string }

func startPlatform(t *testing.T) *platform {
	bin := os.Getenv("ESCROWD_BIN")
	if bin == "" {
		t.Skip("ESCROWD_BIN is not set to a built escrowd")
	}
	keys := filepath.Join(vectorsDir(t), "keys")
	data := filepath.Join(t.TempDir(), "data")
	admin := func(args ...string) string {
		out, err := exec.Command(bin, append([]string{"admin", "--data", data}, args...)...).Output()
		if err != nil {
			t.Fatalf("escrowd admin %v: %v", args, err)
		}
		return string(out)
	}
	admin("create-org", "--name", "AO")
	admin("create-org", "--name", "DS")
	admin("create-user", "--org", "AO", "--email", "ao@x.test", "--public-key", filepath.Join(keys, "kek3072.pub.pem"))
	admin("create-user", "--org", "DS", "--email", "ds@x.test", "--public-key", filepath.Join(keys, "kek4096.pub.pem"))
	var proj struct{ ID string }
	if err := json.Unmarshal([]byte(admin("create-project", "--name", "Go", "--ao-org", "AO", "--ds-org", "DS",
		"--kek-bits", "3072", "--ao-user", "ao@x.test", "--ds-user", "ds@x.test")), &proj); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0", "--runners", "0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("escrowd did not start: %v", err)
	}
	var l struct{ Listening string }
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		t.Fatal(err)
	}
	return &platform{"http://" + l.Listening + "/api/v1", proj.ID}
}

func (p *platform) client(t *testing.T, who string) *PlatformClient {
	key := "kek3072.key.pem"
	if who == "ds" {
		key = "kek4096.key.pem"
	}
	c, err := NewPlatformClientFromFile(p.base, filepath.Join(vectorsDir(t), "keys", key), who+"@x.test", p.project, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func uploadWcek(t *testing.T, c *PlatformClient, dir string) {
	k, err := c.KekDownload()
	if err != nil {
		t.Fatal(err)
	}
	kek, err := KekPublicFromBytes([]byte(k.KeyContent))
	if err != nil {
		t.Fatal(err)
	}
	cek, _ := GenerateCek()
	w, err := kek.Wrap(cek, OaepSHA256)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "wcek_"+k.Role+".key.bkenc")
	os.WriteFile(p, w, 0o600)
	a, err := c.Upload(UploadWCEK, p, VersionFields{Name: "WCEK", VersionTag: "w1"}, nil)
	if err != nil || a.ArtifactType != "wcek" {
		t.Fatalf("wcek: %v %+v", err, a)
	}
}

const pdf = "%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"

func TestPlatformClientUploadSequence(t *testing.T) {
	p := startPlatform(t)
	ao, ds := p.client(t, "ao"), p.client(t, "ds")
	dir := t.TempDir()
	uploadWcek(t, ao, dir)
	uploadWcek(t, ds, dir)
	crit := filepath.Join(dir, "criteria.json")
	os.WriteFile(crit, []byte(`{"accuracy": {"type": "float", "min": 0, "max": 1}}`), 0o600)
	var last [2]uint64
	a, err := ao.Upload(UploadCriteria, crit, VersionFields{Name: "Criteria", VersionTag: "v1"},
		func(done, total uint64) { last = [2]uint64{done, total} })
	if err != nil || a.VersionTag != "v1" || len(a.SHA256) != 64 || a.FileName != "criteria.json" {
		t.Fatalf("criteria: %v %+v", err, a)
	}
	if last[0] == 0 || last[0] != last[1] {
		t.Fatalf("progress ended at %v", last)
	}
	sp := filepath.Join(dir, "spec.pdf")
	os.WriteFile(sp, []byte(pdf), 0o600)
	if _, err := ao.Upload(UploadDataSpecification, sp, VersionFields{Name: "Spec", VersionTag: "s1"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Upload(UploadDataAttestation, sp, VersionFields{Name: "Att", VersionTag: "a1"}, nil); err != nil {
		t.Fatal(err)
	}
	acc, err := ds.AcceptCriteria("v1")
	if err != nil || !strings.Contains(string(acc), `"validation_criteria_version":"v1"`) {
		t.Fatalf("accept: %v %s", err, acc)
	}
	se := time.Now().UTC().Add(7 * 24 * time.Hour).Format("2006-01-02T15:04:05Z")
	sas, err := SasSignURL(&SasSignOptions{Account: "acct", Container: "data", Permissions: "rl",
		Expiry: se, Protocol: "https"}, "", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ds.AddDataset(VersionFields{Name: "X", VersionTag: "d1"}, DatasetFields{DatasetURI: sas,
		DataSpecificationVersion: "s1", DataAttestationVersion: "a1"})
	if err != nil || !strings.Contains(string(d.Details), `"sas_status":"valid"`) {
		t.Fatalf("dataset: %v %+v", err, d)
	}
	alg, err := ao.UploadAlgorithm(filepath.Join(vectorsDir(t), "packages", "ours-v1.zip"),
		VersionFields{Name: "Model", VersionTag: "alg1"},
		AlgorithmFields{AlgorithmType: "validation", ValidationCriteriaVersion: "v1", DataAttestationVersion: "a1"}, nil)
	if err != nil || !strings.Contains(string(alg.Details), "File Validation Succeeded") {
		t.Fatalf("algorithm: %v %+v", err, alg)
	}
	v, err := ao.Versions("")
	if err != nil || v.Role != "ao" || !v.Project.SimulatedTEE || len(v.Versions) < 6 {
		t.Fatalf("versions: %v %+v", err, v)
	}
	v, err = ds.Versions("validation_criteria")
	if err != nil || len(v.Versions) != 1 || v.Versions[0].VersionTag != "v1" {
		t.Fatalf("versions by type: %v %+v", err, v)
	}
	ref := RunRef{AlgorithmVersion: "alg1", DatasetVersion: "d1"}
	if _, err := ao.RunConfiguration("cfg", ref, "", ""); err != nil {
		t.Fatal(err)
	}
	r, err := ao.RunRequest(ref, "cpu-standard-2", map[string]string{"EPOCHS": "3"})
	if err != nil || r.Status != "Run Requested" || r.SimulatedTEE == nil || !*r.SimulatedTEE ||
		!strings.Contains(string(r.Raw), `"EPOCHS":"3"`) {
		t.Fatalf("run request: %v %+v", err, r)
	}
	if s, err := ds.RunStatus(ref); err != nil || s.RunNumber != r.RunNumber {
		t.Fatalf("run status: %v %+v", err, s)
	}
	if r, err = ds.RejectRun(ref, "not now"); err != nil || r.Status != "Rejected" || r.Reason != "not now" {
		t.Fatalf("reject: %v %+v", err, r)
	}
	if _, err := ao.Report(ref); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrState) {
		t.Fatalf("report of a rejected run: %v", err)
	}
	if n, err := ao.Notifications(); err != nil || !strings.Contains(string(n), "not now") {
		t.Fatalf("notifications: %v %s", err, n)
	}
}

func TestPlatformClientRefusals(t *testing.T) {
	p := startPlatform(t)
	ao, ds := p.client(t, "ao"), p.client(t, "ds")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"accuracy": {"type": "flaot"}}`), 0o600)
	_, err := ao.Upload(UploadCriteria, bad, VersionFields{Name: "C", VersionTag: "b1"}, nil)
	if !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), "HTTP 422") {
		t.Fatalf("bad schema: %v", err)
	}
	if ao.LastStatus() != 422 || !strings.Contains(ao.LastBody(), "flaot") {
		t.Fatalf("last answer: %d %s", ao.LastStatus(), ao.LastBody())
	}
	sp := filepath.Join(dir, "s.pdf")
	os.WriteFile(sp, []byte(pdf), 0o600)
	if _, err := ds.Upload(UploadDataSpecification, sp, VersionFields{Name: "S", VersionTag: "s9"}, nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("DS specification: %v", err)
	}
	if _, err := ds.AcceptCriteria("never"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown tag: %v", err)
	}
	if _, err := ao.Upload(UploadWCEK, filepath.Join(dir, "missing"), VersionFields{Name: "n", VersionTag: "t"}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := ao.RunStatus(RunRef{AlgorithmVersion: "a"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("run without dataset version: %v", err)
	}
}

func TestPlatformClientBadInputs(t *testing.T) {
	keys := filepath.Join(vectorsDir(t), "keys")
	if _, err := NewPlatformClientFromFile("http://example.com/api/v1", filepath.Join(keys, "kek3072.key.pem"), "a", "p", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("http to a remote host: %v", err)
	}
	if _, err := NewPlatformClientFromFile("https://h/api/v1", filepath.Join(keys, "kek3072.pub.pem"), "a", "p", nil); !errors.Is(err, ErrKey) {
		t.Fatalf("a public key: %v", err)
	}
	c, err := NewPlatformClientFromFile("http://127.0.0.1:9", filepath.Join(keys, "weak2048.key.pem"), "a", "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KekDownload(); !errors.Is(err, ErrIO) || c.LastStatus() != 0 {
		t.Fatalf("nothing listening: %v %d", err, c.LastStatus())
	}
	tok, err := c.Token()
	if err != nil || strings.Count(tok, ".") != 2 {
		t.Fatalf("token: %v %q", err, tok)
	}
	c.Close()
	if _, err := c.Token(); !errors.Is(err, ErrState) {
		t.Fatalf("after close: %v", err)
	}
}

func TestPlatformClientsInGoroutines(t *testing.T) {
	p := startPlatform(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 6; i++ {
		who := "ao"
		if i%2 == 1 {
			who = "ds"
		}
		wg.Add(1)
		go func(who string) {
			defer wg.Done()
			c := p.client(t, who)
			for j := 0; j < 8; j++ {
				k, err := c.KekDownload()
				if err != nil || k.Role != who {
					errs <- err
					return
				}
			}
		}(who)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestSasSignVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(vectorsDir(t), "sas", "sign.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Cases []map[string]string }
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range v.Cases {
		kind := c["kind"]
		if kind == "" {
			kind = "service"
		}
		o := &SasSignOptions{Kind: kind, Account: c["account"], Container: c["container"], Blob: c["blob"],
			Resource: c["resource"], Snapshot: c["snapshot"], Identifier: c["identifier"],
			Permissions: c["permissions"], Start: c["start"], Expiry: c["expiry"], IP: c["ip"],
			Protocol: c["protocol"], Version: c["version"], Services: c["services"],
			ResourceTypes: c["resource_types"], EncryptionScope: c["encryption_scope"],
			CacheControl: c["rscc"], ContentDisposition: c["rscd"], ContentEncoding: c["rsce"],
			ContentLanguage: c["rscl"], ContentType: c["rsct"]}
		tok, err := SasSign(o, c["key"])
		if _, bad := c["error"]; bad {
			if err == nil {
				t.Errorf("%s: signed, wanted an error", c["name"])
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c["name"], err)
			continue
		}
		q, _ := url.ParseQuery(tok)
		if q.Get("sig") != c["sig"] {
			t.Errorf("%s: sig %s, want %s", c["name"], q.Get("sig"), c["sig"])
		}
		if sts, ok := c["string_to_sign"]; ok {
			if got, _ := SasStringToSign(o); got != sts {
				t.Errorf("%s: string-to-sign differs", c["name"])
			}
		}
		if kind == "service" && (o.Resource == "" || o.Resource == "c" || o.Resource == "b") {
			u, err := SasSignURL(o, "", c["key"])
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := SasVerify(u, c["key"], false); !ok || err != nil {
				t.Errorf("%s: does not verify: %v", c["name"], err)
			}
			if ok, _ := SasVerify(u, "AAAA"+c["key"][4:], false); ok {
				t.Errorf("%s: verifies with another key", c["name"])
			}
		}
		n++
	}
	if n < 100 {
		t.Fatalf("only %d signing vectors ran", n)
	}
}

type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	f.n += len(p)
	if f.n > 100000 {
		return 0, f.err
	}
	return len(p), nil
}

func TestBlobGetToStreamsWithProgress(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o600)
	b, err := OpenBlob("file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var buf bytes.Buffer
	var last [2]uint64
	if err := b.GetTo("big.bin", &buf, 0, -1, func(d, tot uint64) { last = [2]uint64{d, tot} }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) || last != [2]uint64{uint64(len(data)), uint64(len(data))} {
		t.Fatalf("got %d bytes, progress %v", buf.Len(), last)
	}
	buf.Reset()
	if err := b.GetTo("big.bin", &buf, 10, 100, nil); err != nil || !bytes.Equal(buf.Bytes(), data[10:110]) {
		t.Fatalf("range: %v", err)
	}
	stop := errors.New("the writer stops")
	if err := b.GetTo("big.bin", &failAfter{err: stop}, 0, -1, nil); !errors.Is(err, stop) {
		t.Fatalf("writer error: %v", err)
	}
	var up [2]uint64
	if _, err := b.PutFileProgress("copy.bin", filepath.Join(dir, "big.bin"), false, func(d, tot uint64) { up = [2]uint64{d, tot} }); err != nil {
		t.Fatal(err)
	}
	if up[0] != uint64(len(data)) {
		t.Fatalf("upload progress %v", up)
	}
	if err := b.GetFileProgress("copy.bin", filepath.Join(dir, "back.bin"), func(d, tot uint64) {}); err != nil {
		t.Fatal(err)
	}
	cek, _ := GenerateCek()
	ct, err := Encrypt(cek, data[:200000], &EncryptOptions{Context: Context{Path: "a.csv"}})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.csv.bkenc"), ct, 0o600)
	buf.Reset()
	if err := b.GetDecryptTo("a.csv.bkenc", cek, &buf, "a.csv", nil); err != nil || !bytes.Equal(buf.Bytes(), data[:200000]) {
		t.Fatalf("decrypt stream: %v", err)
	}
	if err := b.GetDecryptTo("a.csv.bkenc", cek, &bytes.Buffer{}, "b.csv", nil); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong path: %v", err)
	}
}

// Tokens, refusals before traffic and failed connections: memory stays flat.
func TestClientRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("long: run without -short")
	}
	c, err := NewPlatformClientFromFile("http://127.0.0.1:9", filepath.Join(vectorsDir(t), "keys", "weak2048.key.pem"), "a", "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	loop := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := c.Token(); err != nil {
				t.Fatal(err)
			}
			c.RunStatus(RunRef{})
			if i%100 == 0 {
				c.KekDownload()
			}
		}
	}
	loop(1000)
	before := rssKiB(t)
	loop(10000)
	if grown := rssKiB(t) - before; grown > 2048 {
		t.Fatalf("RSS grew by %d KiB over 10,000 client calls", grown)
	}
}

func TestPlatformAPIExampleUploadsCriteria(t *testing.T) {
	bin := os.Getenv("ESCROW_EXAMPLES_BIN")
	if bin == "" {
		t.Skip("ESCROW_EXAMPLES_BIN is not set (run_tests.sh builds the examples)")
	}
	p := startPlatform(t)
	crit := filepath.Join(t.TempDir(), "criteria.json")
	os.WriteFile(crit, []byte(`{"auc": {"type": "float", "min": 0, "max": 1}}`), 0o600)
	conn := []string{"-base-url", p.base, "-key", filepath.Join(vectorsDir(t), "keys", "kek3072.key.pem"),
		"-email", "ao@x.test", "-project", p.project}
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(filepath.Join(bin, "platform_api"), append(conn, args...)...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), o.String(), e.String()
		}
		return 0, o.String(), e.String()
	}
	if rc, out, e := run("upload-criteria", crit, "ex1"); rc != 0 || !strings.Contains(out, `"version_tag":"ex1"`) {
		t.Fatalf("upload: %d %s %s", rc, out, e)
	}
	if rc, _, e := run("upload-criteria", crit, "ex1"); rc != 1 || !strings.Contains(e, "HTTP 409") {
		t.Fatalf("the same tag twice: %d %s", rc, e)
	}
	if rc, _, e := run("status", "alg1", "d1"); rc != 0 && rc != 1 {
		t.Fatalf("status: %d %s", rc, e)
	}
}
