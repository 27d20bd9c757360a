//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestVerifyRefusesAFIFOInPlaceOfAnOutput: an output replaced by a named
// pipe makes verify fail at once, naming it, instead of blocking on open.
func TestVerifyRefusesAFIFOInPlaceOfAnOutput(t *testing.T) {
	root := moduleRoot(t)
	out := filepath.Join(t.TempDir(), "m.gguf")
	if code, _, errs := runCLI("convert", filepath.Join(root, "testdata", "tiny-llama"), "-q", "--type", "Q8_0", "-o", out); code != 0 {
		t.Fatalf("conversion: exit %d: %s", code, errs)
	}
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(out, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var code int
	var stdout, errs string
	go func() {
		code, stdout, errs = runCLI("verify", out+".manifest.json")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("verify blocked on a named pipe")
	}
	if code != 1 || !strings.Contains(stdout+errs, "m.gguf") || !strings.Contains(stdout+errs, "not a regular file") {
		t.Fatalf("exit %d, %q %q; want 1 and the file named as not a regular file", code, stdout, errs)
	}
}
