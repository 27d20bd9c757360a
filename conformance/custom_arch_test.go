package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// TestRecipeSuppliedArchitectureTable converts a model whose config names
// an architecture this build does not know, with the mapping supplied by
// the recipe (detect's table parameter): here a LLaMA checkpoint relabelled
// "AcmeForCausalLM", mapped by a table that says it is LLaMA-shaped. The
// result must equal the plain LLaMA conversion's.
func TestRecipeSuppliedArchitectureTable(t *testing.T) {
	root := corpus.Root(t)
	dir := t.TempDir()
	model := brokenModel(t, func(c map[string]any) {
		c["architectures"] = []string{"AcmeForCausalLM"}
		c["model_type"] = "acme"
	}, nil, true)
	llama, err := os.ReadFile(filepath.Join(root, "stages", "arch", "tables", "llama.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	table := strings.Replace(string(llama), "hf_architectures: [", "hf_architectures: [AcmeForCausalLM, ", 1)
	table = strings.Replace(table, "model_types: [", "model_types: [acme, ", 1)
	tablePath := filepath.Join(dir, "acme.yaml")
	must(t, os.WriteFile(tablePath, []byte(table), 0o644))
	recipe := filepath.Join(dir, "acme-to-gguf.yaml")
	must(t, os.WriteFile(recipe, []byte(`version: 1
vars: {model: null, out: null, table: null}
stages:
  - {id: src, kind: load, with: {path: "${model}"}}
  - {id: arch, kind: detect, inputs: [src], with: {table: "${table}"}}
  - {id: names, kind: remap, inputs: [arch]}
  - {id: q, kind: quantize, inputs: [names], with: {type: F16}}
  - {id: out, kind: export, inputs: [q], with: {path: "${out}", name: "Tiny Llama Spm"}}
`), 0o644))

	// Without the table, the architecture is unknown.
	unknown := filepath.Join(dir, "unknown.gguf")
	if err := runRecipeFile(recipe, map[string]string{"model": model, "out": unknown, "table": ""}); err == nil ||
		!strings.Contains(err.Error(), "AcmeForCausalLM") {
		t.Fatalf("want an unknown-architecture error naming AcmeForCausalLM, got %v", err)
	}
	out := filepath.Join(dir, "acme.gguf")
	if err := runRecipeFile(recipe, map[string]string{"model": model, "out": out, "table": tablePath}); err != nil {
		t.Fatal(err)
	}
	matchesReference(t, out, corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-f16.gguf.json"))
}
