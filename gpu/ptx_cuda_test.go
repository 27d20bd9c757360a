//go:build cuda && linux && (amd64 || arm64)

package gpu

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPTXEmbedded: the GPU build carries every PTX file as committed.
func TestPTXEmbedded(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("kernels", "*.ptx"))
	for _, f := range files {
		disk, _ := os.ReadFile(f)
		emb, err := ptx.ReadFile("kernels/" + filepath.Base(f))
		if err != nil || string(emb) != string(disk) {
			t.Errorf("%s: embedded copy differs or is missing (%v)", f, err)
		}
	}
}
