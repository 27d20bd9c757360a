package conformance

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// legacyImatrix writes a legacy .dat imatrix (the format llama-imatrix
// wrote before GGUF) with one call and the given entries.
func legacyImatrix(t *testing.T, entries map[string][]float32) string {
	t.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	binary.Write(&b, le, int32(len(entries)))
	for name, vals := range entries {
		binary.Write(&b, le, int32(len(name)))
		b.WriteString(name)
		binary.Write(&b, le, int32(1))
		binary.Write(&b, le, int32(len(vals)))
		binary.Write(&b, le, vals)
	}
	p := filepath.Join(t.TempDir(), "bad.dat")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func ones(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// TestImatrixMismatchIsAPlanError: an importance matrix that does not fit
// the model, is malformed or holds NaN is refused before anything is
// written, with the file, the tensor or entry, and what was expected.
func TestImatrixMismatchIsAPlanError(t *testing.T) {
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata", "imatrix")
	good, err := os.ReadFile(filepath.Join(dir, "tiny-llama-spm.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nan := ones(256)
	nan[7] = float32(math.NaN())
	for _, c := range []struct {
		name, imatrix, typ string
		vars               map[string]string
		want               []string
	}{
		{"sizes of another model", filepath.Join(dir, "tiny-llama-odd.imatrix.gguf"), "Q4_K_M", nil,
			[]string{"tiny-llama-odd.imatrix.gguf", "tensor blk.0.ffn_down.weight", "has 320 values, want 512"}},
		{"names of another model", legacyImatrix(t, map[string][]float32{"model.layers.0.mlp.down_proj.weight": ones(512)}), "Q4_K_M", nil,
			[]string{"bad.dat", "none of its 1 entries", "model.layers.0.mlp.down_proj.weight"}},
		{"NaN", legacyImatrix(t, map[string][]float32{"blk.0.attn_q.weight": nan}), "Q4_K_M", nil,
			[]string{"bad.dat", `"blk.0.attn_q.weight"`, "weight 7 is NaN"}},
		{"truncated", write("cut.gguf", good[:len(good)/2]), "Q4_K_M", nil,
			[]string{"cut.gguf", "offset"}},
		{"no metadata", write("nometa.gguf", bytes.Replace(good, []byte("imatrix.chunk_size"), []byte("imatrix.chunk_sizz"), 1)), "Q4_K_M", nil,
			[]string{"nometa.gguf", "imatrix.chunk_size", "missing"}},
		{"needed entry excluded", filepath.Join(dir, "tiny-llama-spm.imatrix.gguf"), "Q2_K_S", map[string]string{"exclude_weights": "blk.1."},
			[]string{"tensor blk.1.", "no entry", "needs an importance matrix"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			vars := map[string]string{"model": corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-bf16.gguf"), "out": out, "type": c.typ, "imatrix": c.imatrix}
			for k, v := range c.vars {
				vars[k] = v
			}
			err := runRecipeFile(filepath.Join(root, "recipes", "quantize-gguf.yaml"), vars)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("an output was written")
			}
		})
	}
}

// TestImatrixIsAnInput: the imatrix is read by the run, so an output over
// it is refused when planning and the file is left as it was.
func TestImatrixIsAnInput(t *testing.T) {
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "testdata", "imatrix", "tiny-llama-spm.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	im := filepath.Join(t.TempDir(), "imatrix.gguf")
	if err := os.WriteFile(im, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = runRecipeFile(filepath.Join(root, "recipes", "quantize-gguf.yaml"), map[string]string{
		"model": corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-bf16.gguf"), "out": im, "type": "Q4_K_M", "imatrix": im})
	if err == nil || !strings.Contains(err.Error(), "would overwrite an input") {
		t.Fatalf("%v, want the output refused as an input", err)
	}
	if after, _ := os.ReadFile(im); !bytes.Equal(after, b) {
		t.Error("the imatrix was changed")
	}
}
