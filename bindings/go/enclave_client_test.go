package escrow

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// record keeps what the test server saw (handlers run on other goroutines).
type record struct {
	mu sync.Mutex
	s  []string
}

func (r *record) add(v string) {
	r.mu.Lock()
	r.s = append(r.s, v)
	r.mu.Unlock()
}

func (r *record) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.s) == 0 {
		return ""
	}
	return r.s[len(r.s)-1]
}

// enclaveServer speaks the Enclave API contract (DESIGN §7) on a loopback port.
func enclaveServer(t *testing.T, data []byte) (*httptest.Server, *record) {
	seen := &record{}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/data/files", func(w http.ResponseWriter, r *http.Request) {
		seen.add("files:" + r.URL.Query().Get("SASUrl"))
		fmt.Fprintf(w, `{"files":[{"id":"1","name":"site/a.csv.bkenc","size":%d,"uploadDate":"2025-01-01"}],"totalFiles":1}`, len(data))
	})
	mux.HandleFunc("/api/v1/data/file", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("filepath") != "site/a.csv.bkenc" {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":"no such file"}`)
			return
		}
		off := 0
		if rg := r.Header.Get("Range"); rg != "" {
			off, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, len(data)-1, len(data)))
			w.Header().Set("Content-Length", strconv.Itoa(len(data)-off))
			w.WriteHeader(206)
		}
		w.Write(data[off:])
	})
	mux.HandleFunc("/api/v1/log", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen.add("log:" + string(b))
		io.WriteString(w, `{}`)
	})
	report := func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name     string          `json:"name"`
			JSONData json.RawMessage `json:"json_data"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		seen.add("report:" + string(in.JSONData))
		if strings.Contains(string(in.JSONData), `"accuracy":2`) {
			w.WriteHeader(400)
			io.WriteString(w, `{"status":"failed","message":{"accuracy":["max value is 1"]}}`)
			return
		}
		io.WriteString(w, `{"status":"successful","message":{}}`)
	}
	mux.HandleFunc("/api/v1/validate", report)
	mux.HandleFunc("/api/v1/report", report)
	mux.HandleFunc("/api/v1/report/artifact", func(w http.ResponseWriter, r *http.Request) {
		f, h, err := r.FormFile("artifact_file")
		if err != nil {
			w.WriteHeader(400)
			return
		}
		b, _ := io.ReadAll(f)
		seen.add(fmt.Sprintf("artifact:%s:%d", h.Filename, len(b)))
		io.WriteString(w, `{"status":"stored"}`)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s, seen
}

func TestEnclaveClientContract(t *testing.T) {
	data := pattern(300000, 4)
	s, seen := enclaveServer(t, data)
	e, err := NewEnclaveClient(s.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	files, err := e.Files("https://a.blob.core.windows.net/c?sig=x")
	if err != nil || len(files) != 1 || files[0].Name != "site/a.csv.bkenc" || files[0].Size != int64(len(data)) {
		t.Fatalf("files: %v %+v", err, files)
	}
	if got := seen.last(); got != "files:"+base64.StdEncoding.EncodeToString([]byte("https://a.blob.core.windows.net/c?sig=x")) {
		t.Fatalf("SASUrl sent as %q", got)
	}
	var buf bytes.Buffer
	var last [2]uint64
	if err := e.ReadTo("site/a.csv.bkenc", &buf, 0, func(d, tot uint64) { last = [2]uint64{d, tot} }); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("read: %v (%d bytes)", err, buf.Len())
	}
	if last[0] != uint64(len(data)) {
		t.Fatalf("progress %v", last)
	}
	buf.Reset()
	if err := e.ReadTo("site/a.csv.bkenc", &buf, 1000, nil); err != nil || !bytes.Equal(buf.Bytes(), data[1000:]) {
		t.Fatalf("range read: %v", err)
	}
	if err := e.ReadTo("nope", &buf, 0, nil); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	out := filepath.Join(t.TempDir(), "a.csv")
	if err := e.Download("site/a.csv.bkenc", out, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, data) {
		t.Fatal("downloaded file differs")
	}
	if err := e.Log("epoch 1", ""); err != nil || !strings.Contains(seen.last(), `"status":"Progress"`) {
		t.Fatalf("log: %v %v", err, seen.last())
	}
	v, err := e.Report(ReportIn{Name: "final", JSONData: map[string]float64{"accuracy": 0.5}})
	if err != nil || !v.Valid() {
		t.Fatalf("report: %v %+v", err, v)
	}
	v, err = e.Validate(ReportIn{Name: "final", JSONData: `{"accuracy":2}`})
	if err != nil || v.Valid() || !strings.Contains(string(v.Message), "max value is 1") {
		t.Fatalf("refusal: %v %+v", err, v)
	}
	if _, err := e.Validate(ReportIn{Name: "final", JSONData: `{not json`}); !errors.Is(err, ErrFormat) {
		t.Fatalf("bad json_data: %v", err)
	}
	art := filepath.Join(t.TempDir(), "chart.png")
	os.WriteFile(art, pattern(5000, 2), 0o600)
	if a, err := e.Artifact(art, "", nil); err != nil || !strings.Contains(string(a), "stored") ||
		seen.last() != "artifact:chart.png:5000" {
		t.Fatalf("artifact: %v %s %v", err, a, seen.last())
	}
}
