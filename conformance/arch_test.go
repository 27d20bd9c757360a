package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// archRefs lists testdata/arch's references: for each tiny checkpoint
// <name>/, what llama.cpp's convert_hf_to_gguf.py wrote for it at each
// output type (<name>-ref/<name>-<type>.gguf.json, made by
// scripts/make-arch-refs.py).
func archRefs(t *testing.T) (root string, refs []string) {
	t.Helper()
	root = filepath.Join(corpus.Root(t), "testdata", "arch")
	refs, err := filepath.Glob(filepath.Join(root, "*-ref", "*.gguf.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) == 0 {
		t.Fatalf("no references under %s", root)
	}
	return root, refs
}

// TestArchitecturesMatchConverter converts each tiny checkpoint of
// testdata/arch and compares keys, values, tensor types, shapes and bytes
// with the converter's file.
func TestArchitecturesMatchConverter(t *testing.T) {
	root, refs := archRefs(t)
	for _, ref := range refs {
		name := filepath.Base(filepath.Dir(ref))
		name = strings.TrimSuffix(name, "-ref")
		typ := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(ref), name+"-"), ".gguf.json")
		t.Run(name+"/"+typ, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": filepath.Join(root, name), "out": out, "type": strings.ToUpper(typ)})
			matchesReference(t, out, ref, "general.name")
		})
	}
	if _, err := os.Stat(filepath.Join(root, "tokenizer.model")); err != nil {
		t.Error(err)
	}
}
