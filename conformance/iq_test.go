package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// TestLowBitMixesNeedAnImatrix: without an importance matrix llama-quantize
// refuses the IQ1/IQ2 mixes, IQ3_XXS and IQ3_XS on the corpus model at
// blk.0.attn_k.weight (tensor/quant/testdata/iqmix/refs.json records it);
// so does the quantize recipe, at plan time, naming that tensor, and writes
// nothing.
func TestLowBitMixesNeedAnImatrix(t *testing.T) {
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	model := corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-bf16.gguf")
	for _, typ := range []string{"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ1_S", "IQ1_M", "IQ3_XXS", "IQ3_XS"} {
		t.Run(typ, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			err := runRecipeFile(filepath.Join(root, "recipes", "quantize-gguf.yaml"),
				map[string]string{"model": model, "out": out, "type": typ})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range []string{"needs an importance matrix", "blk.0.attn_k.weight"} {
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
