package conformance

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// TestMergeLoraToGGUFIsOnePass checks merge-lora.yaml's .gguf branch (merge,
// convert, quantize in one pass) against the two-step path through an
// intermediate file: merge to safetensors, then hf-to-gguf on a folder
// holding it with the base's config and tokenizer.
func TestMergeLoraToGGUFIsOnePass(t *testing.T) {
	base, adapter := corpus.Path(t, "tiny-llama-spm"), corpus.Path(t, "tiny-llama-spm-lora")
	for _, typ := range []string{"F32", "Q4_K_M"} {
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			onePass := filepath.Join(dir, "one.gguf")
			runRecipe(t, "merge-lora.yaml", map[string]string{"base": base, "adapter": adapter, "out": onePass, "type": typ})

			folder := filepath.Join(dir, "merged")
			must(t, os.Mkdir(folder, 0o755))
			for _, f := range []string{"config.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"} {
				must(t, os.Symlink(filepath.Join(base, f), filepath.Join(folder, f)))
			}
			runRecipe(t, "merge-lora.yaml", map[string]string{"base": base, "adapter": adapter, "out": filepath.Join(folder, "model.safetensors")})
			twoStep := filepath.Join(dir, "two.gguf")
			runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": folder, "out": twoStep, "type": typ})

			a, b := ggufTensors(t, onePass), ggufTensors(t, twoStep)
			if len(a) != len(b) || len(a) == 0 {
				t.Fatalf("%d tensors vs %d", len(a), len(b))
			}
			for name, data := range b {
				if string(a[name]) != string(data) {
					t.Errorf("tensor %s differs between the one-pass and two-step paths", name)
				}
			}
		})
	}
}

func ggufTensors(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, c, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string][]byte{}
	for _, d := range f.Tensors {
		b, err := tensor.ReadAll(d)
		if err != nil {
			t.Fatal(err)
		}
		out[d.Name+" "+d.DType.String()] = b
	}
	return out
}
