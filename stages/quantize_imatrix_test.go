package stages

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor/imatrix"
)

// The quantize stages of one run that name the same imatrix file read it
// once and share its weights (a matrix run to several types); the same
// path with another size or modification time is another file, read again.
func TestImatrixLoadedOncePerRun(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "imatrix", "tiny-llama-spm.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "m.imatrix.gguf")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	reads := 0
	defer func(open func(string) (*imatrix.Matrix, error)) { imatrixOpen = open }(imatrixOpen)
	imatrixOpen = func(path string) (*imatrix.Matrix, error) { reads++; return imatrix.Open(path) }

	env := &pipeline.Env{Cache: &pipeline.RunCache{}}
	load := func(f llamaFlags) *stageImatrix {
		t.Helper()
		im, err := loadImatrix(env, &f)
		if err != nil || im == nil {
			t.Fatalf("%+v: %v, %v", f, im, err)
		}
		return im
	}
	first := load(llamaFlags{Imatrix: p})
	second := load(llamaFlags{Imatrix: p})
	t.Chdir(dir)
	relative := load(llamaFlags{Imatrix: "m.imatrix.gguf"})
	if reads != 1 {
		t.Errorf("three stages naming one file read it %d times, want 1", reads)
	}
	if reflect.ValueOf(first.weights).Pointer() != reflect.ValueOf(second.weights).Pointer() ||
		reflect.ValueOf(first.weights).Pointer() != reflect.ValueOf(relative.weights).Pointer() {
		t.Error("the stages hold separate copies of the weights")
	}
	if relative.path != "m.imatrix.gguf" {
		t.Errorf("path %q, want the name the stage gave (quantize.imatrix.file records it)", relative.path)
	}
	filtered := load(llamaFlags{Imatrix: p, IncludeWeights: wordList{"attn"}})
	if reads != 1 || len(filtered.weights) >= len(first.weights) {
		t.Errorf("a filter: %d reads, %d of %d entries", reads, len(filtered.weights), len(first.weights))
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	load(llamaFlags{Imatrix: p})
	if reads != 2 {
		t.Errorf("after the file changed: %d reads, want 2", reads)
	}
	load(llamaFlags{Imatrix: p})
	if _, err := loadImatrix(&pipeline.Env{Cache: &pipeline.RunCache{}}, &llamaFlags{Imatrix: p}); err != nil || reads != 3 {
		t.Errorf("another run: %d reads, want 3 (%v)", reads, err)
	}
}
