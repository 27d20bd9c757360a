package stages

import (
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/pipeline"
)

// TestMergeWeightMustBeSane checks that an adapter weight that would make
// every merged value infinite is refused when the recipe is read.
func TestMergeWeightMustBeSane(t *testing.T) {
	for _, w := range []string{"1e308", "-2e6"} {
		recipe := "version: 1\nstages:\n  - {id: src, kind: load, with: {path: x}}\n" +
			"  - {id: m, kind: merge-lora, inputs: [src], with: {adapters: [{path: a, weight: " + w + "}]}}\n" +
			"  - {id: out, kind: export, inputs: [m], with: {path: o.safetensors}}\n"
		_, err := pipeline.Parse("r.yaml", []byte(recipe), nil, Registry())
		if err == nil || !strings.Contains(err.Error(), "r.yaml:") || !strings.Contains(err.Error(), "expected a finite number of magnitude at most 1048576") {
			t.Errorf("weight %s: %v", w, err)
		}
	}
}
