package cli

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// TestConvertOutputFollowsExtension checks that convert writes what the
// output's name says: a .safetensors output is a safetensors file holding
// the checkpoint's tensors (here the pickle tiny-llama-spm-bin, compared
// with the same weights transformers saved as safetensors), never GGUF
// bytes under that name; a name it cannot honour is refused before
// anything is written.
func TestConvertOutputFollowsExtension(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	code, _, errs := runCLI("convert", corpus.Path(t, "tiny-llama-spm-bin"), "-o", out, "-q", "--no-manifest")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got, err := safetensors.Open(out)
	if err != nil {
		t.Fatalf("the output is not safetensors: %v", err)
	}
	defer got.Close()
	want, err := safetensors.Open(corpus.Path(t, "tiny-llama-spm"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if len(got.Tensors) != len(want.Tensors) {
		t.Errorf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	byName := map[string]*tensor.Desc{}
	for _, w := range want.Tensors {
		byName[w.Name] = w
	}
	for _, g := range got.Tensors {
		w := byName[g.Name]
		if w == nil {
			t.Errorf("unexpected tensor %s", g.Name)
			continue
		}
		gb, err1 := tensor.ReadAll(g)
		wb, err2 := tensor.ReadAll(w)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", g.Name, err1, err2)
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(gb, wb) {
			t.Errorf("%s: %v %v, want %v %v (bytes equal: %v)", g.Name, g.DType, g.Shape, w.DType, w.Shape, bytes.Equal(gb, wb))
		}
	}

	refused := filepath.Join(dir, "refused")
	gguf := corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-f16.gguf")
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"type with safetensors", []string{corpus.Path(t, "tiny-llama-spm"), "-o", refused + ".safetensors", "--type", "Q4_K_M"},
			[]string{"--type", "keeps the checkpoint's dtypes"}},
		{"unknown extension", []string{corpus.Path(t, "tiny-llama-spm"), "-o", refused + ".bin"},
			[]string{refused + ".bin", ".gguf", ".safetensors", "mlmf-run reshard"}},
		{"GGUF to safetensors", []string{gguf, "-o", refused + ".safetensors"},
			[]string{gguf + " is a GGUF", "mlmf-run gguf-to-hf --set model="}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := runCLI(append([]string{"convert"}, c.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			for _, w := range c.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if m, _ := filepath.Glob(refused + "*"); len(m) > 0 {
				t.Errorf("a refused run wrote %v", m)
			}
		})
	}
}
