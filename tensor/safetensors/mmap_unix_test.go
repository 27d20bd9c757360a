//go:build unix

package safetensors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestMappedFileTruncated: a file cut short by someone else after it was
// mapped must give an error on read, not kill the process with SIGBUS.
func TestMappedFileTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(f, []*tensor.Desc{desc("w", tensor.U8, 4, 8192)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	_, err = tensor.ReadAll(s.Tensors[0])
	if err == nil || !strings.Contains(err.Error(), "changed while mapped") {
		t.Fatalf("got %v, want an error about the file changing", err)
	}
}
