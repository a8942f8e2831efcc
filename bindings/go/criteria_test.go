package escrow

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func readLines(t *testing.T, name string) [][]byte {
	f, err := os.Open(filepath.Join(vectorsDir(t), "criteria", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 16<<20)
	for s.Scan() {
		out = append(out, append([]byte(nil), s.Bytes()...))
	}
	return out
}

// The Go binding's answers on the differential corpora, judged against Cerberus's recorded
// answers by the same judge as the C test (tests/criteria/compare.py, --min-agreement 1.0).
func TestCriteriaVectorsAgreeWithCerberus(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is needed for the judge")
	}
	judge := filepath.Join(vectorsDir(t), "..", "criteria", "compare.py")
	for _, pair := range [][2]string{{"cases.jsonl", "expected.jsonl"}, {"cerberus_suite.jsonl", "cerberus_suite.expected.jsonl"}} {
		cases := readLines(t, pair[0])
		if len(cases) < 100 {
			t.Fatalf("%s: only %d cases", pair[0], len(cases))
		}
		var out bytes.Buffer
		for i, line := range cases {
			got, err := CheckPair(line)
			if err != nil {
				t.Fatalf("%s:%d: %v", pair[0], i+1, err)
			}
			out.Write(got)
			out.WriteByte('\n')
		}
		actual := filepath.Join(t.TempDir(), "actual.jsonl")
		os.WriteFile(actual, out.Bytes(), 0o600)
		dir := filepath.Join(vectorsDir(t), "criteria")
		cmd := exec.Command(py, judge, filepath.Join(dir, pair[0]), filepath.Join(dir, pair[1]), actual, "--min-agreement", "1.0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: the judge disagrees: %v\n%s", pair[0], err, b)
		}
	}
}

const testSchema = `{"report": {"type": "dict", "schema": {"accuracy": {"type": "float", "min": 0, "max": 1}, "n": {"type": "integer", "min": 1}}}}`

func TestCriteriaValidate(t *testing.T) {
	c, err := CompileCriteria([]byte(testSchema), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := c.Validate([]byte(`{"report": {"accuracy": 1.5, "n": 0}, "x": 1}`))
	if err != nil || v.Valid {
		t.Fatalf("%v %v", v, err)
	}
	var tree map[string]interface{}
	json.Unmarshal(v.Errors, &tree)
	if _, ok := tree["x"]; !ok || tree["report"] == nil {
		t.Fatalf("errors %s", v.Errors)
	}
	if v, err := c.Validate([]byte(`{"report": {"accuracy": 0.5, "n": 3}}`)); err != nil || !v.Valid || string(v.Errors) != "{}" {
		t.Fatalf("%v %v", v, err)
	}
	ok, answer, err := c.ValidateReport([]byte(`"{\"report\": {\"accuracy\": 0.1, \"n\": 2}}"`))
	if err != nil || !ok || string(answer) != `{"status":"successful","message":{}}` {
		t.Fatalf("%v %s %v", ok, answer, err)
	}
	p := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(p, []byte(`{"report": {"accuracy": -1, "n": 1}}`), 0o600)
	if v, err := c.ValidateFile(p); err != nil || v.Valid {
		t.Fatalf("%v %v", v, err)
	}
	if _, err := c.Validate([]byte(`[1]`)); !errors.Is(err, ErrFormat) {
		t.Fatalf("root not an object: %v", err)
	}
	if a, err := c.Audit(); err != nil || len(a) == 0 {
		t.Fatal(err)
	}
	_, err = CompileCriteria([]byte(`{"a": {"type": "flaot"}}`), nil)
	var se *SchemaError
	if !errors.As(err, &se) || !errors.Is(err, ErrFormat) || string(se.Tree) == "" {
		t.Fatalf("%v", err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if v, err := c.Validate([]byte(`{"report": {"n": 0}}`)); err != nil || v.Valid {
					t.Error("shared criteria gave a wrong verdict")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestSasVectors(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join(vectorsDir(t), "sas", "check.json"))
	var set struct {
		Messages map[string]string
		Cases    []struct {
			Name, URL, Now, Status string
			ReasonContains         string `json:"reason_contains"`
			Flags                  []string
		}
	}
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	for _, c := range set.Cases {
		var flags uint
		for _, f := range c.Flags {
			if f == "allow_loopback_http" {
				flags |= SasAllowLoopbackHTTP
			}
		}
		r, err := CheckSas(c.URL, c.Now, flags)
		if err != nil || r.Status != c.Status || r.Message != set.Messages[c.Status] {
			t.Errorf("%s: %+v %v, want %s", c.Name, r, err, c.Status)
			continue
		}
		if c.ReasonContains != "" && !strings.Contains(r.Reason, c.ReasonContains) {
			t.Errorf("%s: reason %q", c.Name, r.Reason)
		}
	}
	if _, err := CheckSas("https://a.blob.core.windows.net/c", "yesterday", 0); !errors.Is(err, ErrFormat) {
		t.Fatalf("bad time: %v", err)
	}
}


// Per-call cost of a validation through the binding (compare with bench_criteria's C loop).
func BenchmarkCriteriaValidate(b *testing.B) {
	c, err := CompileCriteria([]byte(testSchema), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	doc := []byte(`{"report": {"accuracy": 1.5, "n": 0}}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if v, err := c.Validate(doc); err != nil || v.Valid {
			b.Fatal("wrong verdict")
		}
	}
}
