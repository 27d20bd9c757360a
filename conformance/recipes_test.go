package conformance

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages"
)

// shipped lists, for every recipe in recipes/, the vars that run it here;
// a recipe added without an entry fails TestEveryShippedRecipeRuns. dir is
// a fresh temp folder for outputs; corpusDir the conformance corpus.
var shipped = map[string]func(root, dir, corpusDir string) map[string]string{
	"llama-to-gguf-q4.yaml": func(root, dir, _ string) map[string]string {
		return map[string]string{"model": filepath.Join(root, "testdata", "tiny-llama"), "out": filepath.Join(dir, "q4.gguf")}
	},
	"hf-to-gguf.yaml": func(root, dir, _ string) map[string]string {
		return map[string]string{"model": filepath.Join(root, "testdata", "tiny-llama"), "out": filepath.Join(dir, "m.gguf"), "type": "Q5_K_M"}
	},
	"hf-to-gguf-matrix.yaml": func(root, dir, _ string) map[string]string {
		return map[string]string{"model": filepath.Join(root, "testdata", "tiny-llama"), "out": filepath.Join(dir, "m-${type}.gguf"), "types": "Q8_0,Q4_K_M"}
	},
	"hf-to-gguf-pure.yaml": func(root, dir, _ string) map[string]string {
		return map[string]string{"model": filepath.Join(root, "testdata", "tiny-llama"), "out": filepath.Join(dir, "m.gguf"), "type": "Q4_K"}
	},
	"gguf-to-hf.yaml": func(root, dir, c string) map[string]string {
		return map[string]string{"model": filepath.Join(c, "tiny-llama-spm-ref", "tiny-llama-spm-Q4_K_M.gguf"), "out": filepath.Join(dir, "hf"), "dtype": "BF16"}
	},
	"reshard.yaml": func(root, dir, _ string) map[string]string {
		return map[string]string{"model": filepath.Join(root, "testdata", "tiny-llama"), "out": filepath.Join(dir, "hf"), "max_shard_size": "500KB"}
	},
	"merge-lora.yaml": func(root, dir, c string) map[string]string {
		return map[string]string{"base": filepath.Join(c, "tiny-llama-spm"), "adapter": filepath.Join(c, "tiny-llama-spm-lora"), "out": filepath.Join(dir, "merged"), "max_shard_size": "1MB"}
	},
	"vlm-to-gguf.yaml": func(root, dir, c string) map[string]string {
		return map[string]string{"model": filepath.Join(c, "tiny-smolvlm"), "out": filepath.Join(dir, "text.gguf"), "mmproj": filepath.Join(dir, "mmproj.gguf"), "type": "Q8_0"}
	},
	"vlm-gguf-to-hf.yaml": func(root, dir, c string) map[string]string {
		ref := filepath.Join(c, "tiny-smolvlm-ref", "mmproj-tiny-smolvlm-f16.gguf")
		return map[string]string{"model": filepath.Join(c, "tiny-llama-spm-ref", "tiny-llama-spm-Q8_0.gguf"), "mmproj": ref,
			"out": filepath.Join(dir, "hf"), "image_token_id": "500"}
	},
	"quantize-gguf.yaml": func(root, dir, c string) map[string]string {
		return map[string]string{"model": filepath.Join(c, "tiny-llama-spm-ref", "tiny-llama-spm-bf16.gguf"), "out": filepath.Join(dir, "q.gguf"),
			"imatrix": filepath.Join(root, "testdata", "imatrix", "tiny-llama-spm.imatrix.gguf")}
	},
	"lora-to-gguf.yaml": func(root, dir, c string) map[string]string {
		return map[string]string{"base": filepath.Join(c, "tiny-llama-spm"), "adapter": filepath.Join(c, "tiny-llama-spm-lora"), "out": filepath.Join(dir, "lora.gguf")}
	},
}

// TestEveryShippedRecipeRuns validates and runs each recipe in recipes/ and
// checks that it wrote what its plan promised, with a manifest. What the
// outputs contain is checked against llama.cpp and PEFT by the other tests
// here; this one guarantees no shipped recipe rots.
func TestEveryShippedRecipeRuns(t *testing.T) {
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	c := corpus.Dir(t)
	files, _ := filepath.Glob(filepath.Join(root, "recipes", "*.yaml"))
	sort.Strings(files)
	if len(files) < len(shipped) {
		t.Errorf("%d recipes on disk, %d in the table", len(files), len(shipped))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			vars, ok := shipped[name]
			if !ok {
				t.Fatalf("recipes/%s has no entry in the shipped table: add the vars that run it", name)
			}
			dir := t.TempDir()
			r, err := pipeline.Load(f, vars(root, dir, c), stages.Registry())
			if err != nil {
				t.Fatal(err)
			}
			res, err := pipeline.Run(context.Background(), r, pipeline.RunOptions{Threads: 2, Memory: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Plan.Outputs) == 0 {
				t.Fatal("the recipe writes nothing")
			}
			for _, o := range res.Plan.Outputs {
				st, err := os.Stat(o.Path)
				if err != nil || st.Size() != o.Size {
					t.Errorf("%s: %v, size %v, planned %d", o.Path, err, st, o.Size)
				}
			}
			if _, err := os.Stat(res.Manifest); err != nil {
				t.Errorf("manifest: %v", err)
			}
		})
	}
}

// TestDefaultRecipeRunsFromTheRepoRoot checks the README's first command:
// the bundled model is where llama-to-gguf-q4.yaml's default says.
func TestDefaultRecipeRunsFromTheRepoRoot(t *testing.T) {
	root := corpus.Root(t)
	r, err := pipeline.Load(filepath.Join(root, "recipes", "llama-to-gguf-q4.yaml"), nil, stages.Registry())
	if err != nil {
		t.Fatal(err)
	}
	model := r.Vars["model"]
	if _, err := os.Stat(filepath.Join(root, model, "config.json")); err != nil {
		t.Fatalf("default model %q is not a model folder under the repo root: %v", model, err)
	}
}
