package escrow

import (
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// rssKiB is the resident set after returning Go's free heap to the system, so that what
// remains measures live memory (Go's and C's).
func rssKiB(t testing.TB) int64 {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	pages, _ := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	return pages * int64(os.Getpagesize()) / 1024
}

func encryptDecryptLoop(t testing.TB, c *Cek, n int) {
	pt := pattern(256, 9)
	opts := &EncryptOptions{Context: Context{Path: "p"}}
	dopts := &DecryptOptions{ExpectPath: "p"}
	for i := 0; i < n; i++ {
		ct, err := Encrypt(c, pt, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decrypt(c, ct, dopts)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatal("round trip differs")
		}
	}
}

// 100,000 encrypt/decrypt calls must not grow the resident set: a C leak of even 64 bytes
// per call would add more than 6 MiB.
func TestManyCallsDoNotGrowRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("long: run without -short (the race run uses -short)")
	}
	c := testCek(t)
	encryptDecryptLoop(t, c, 5000)
	before := rssKiB(t)
	encryptDecryptLoop(t, c, 100000)
	grown := rssKiB(t) - before
	t.Logf("RSS grew by %d KiB over 100,000 calls", grown)
	if grown > 4096 {
		t.Fatalf("RSS grew by %d KiB over 100,000 calls", grown)
	}
}

func BenchmarkEncryptDecrypt256(b *testing.B) {
	c := testCek(b)
	b.ReportAllocs()
	before := rssKiB(b)
	encryptDecryptLoop(b, c, b.N)
	b.ReportMetric(float64(rssKiB(b)-before), "rss-growth-KiB")
}
