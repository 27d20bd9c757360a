package imatrix

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func seed(f *testing.F, name string) {
	b, err := os.ReadFile(filepath.Join(refDir, name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

// fuzzRead checks that any bytes give a matrix or an error, never a panic,
// and that a matrix's weights can be selected.
func fuzzRead(t *testing.T, b []byte) {
	m, err := Read(bytes.NewReader(b), int64(len(b)), "fuzz")
	if err != nil {
		return
	}
	m.Select(nil, nil)
}

func FuzzReadLegacy(f *testing.F) {
	seed(f, "tiny-llama-spm.imatrix.dat")
	f.Add(legacyFile(legacyEntry("a", 3, 1, 2, 3)))
	f.Add(append(legacyFile(legacyEntry("a\x00b", 0, 1)), 1, 0, 0, 0, 2, 0, 0, 0, 'x', 'y'))
	f.Fuzz(fuzzRead)
}

func FuzzReadGGUF(f *testing.F) {
	seed(f, "tiny-llama-spm.imatrix.gguf")
	seed(f, "tiny-llama-odd.imatrix.gguf")
	f.Fuzz(fuzzRead)
}
