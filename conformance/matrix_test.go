package conformance

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// TestMatrixMatchesLlamaQuantize writes every llama-quantize mix of the
// corpus (and the F32, F16 and BF16 conversions) from one read of the model through
// recipes/hf-to-gguf-matrix.yaml: each file must equal its reference, as
// the single-type runs of TestQuantizeMatchesLlamaQuantize do.
func TestMatrixMatchesLlamaQuantize(t *testing.T) {
	dir := t.TempDir()
	types := []string{"F32", "F16", "BF16"}
	for _, q := range quantizations {
		if !q.pure {
			types = append(types, q.typ)
		}
	}
	runRecipe(t, "hf-to-gguf-matrix.yaml", map[string]string{
		"model": corpus.Path(t, "tiny-llama-spm"),
		"out":   filepath.Join(dir, "m-${type}.gguf"),
		"types": strings.Join(types, ","),
	})
	for _, ty := range types {
		ref := corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-"+ty+".gguf.json")
		if strings.HasPrefix(ty, "F") || strings.HasPrefix(ty, "BF") {
			ref = corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-"+strings.ToLower(ty)+".gguf.json")
		}
		t.Run(ty, func(t *testing.T) {
			matchesReference(t, filepath.Join(dir, "m-"+ty+".gguf"), ref, "general.name")
		})
	}
}
