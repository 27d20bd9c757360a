package conformance

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// brokenModel builds a model folder from tiny-llama-spm in a temp dir: its
// tokenizer files linked, its config edited, its tensors rewritten into one
// safetensors file with extra tensors added.
func brokenModel(t *testing.T, editConfig func(map[string]any), extra []*tensor.Desc, tokenizer bool) string {
	t.Helper()
	src := corpus.Path(t, "tiny-llama-spm")
	// The converter's metadata heuristics read the folder name (a temp
	// dir's "001" would become general.version): keep the original's.
	dir := filepath.Join(t.TempDir(), "tiny-llama-spm")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if tokenizer {
		for _, f := range []string{"tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"} {
			if err := os.Symlink(filepath.Join(src, f), filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s/config.json: %v", src, err)
	}
	if editConfig != nil {
		editConfig(cfg)
	}
	if b, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := safetensors.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(f, append(set.Tensors, extra...), nil); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestConversionErrorsComeBeforeAnyWeightIsRead(t *testing.T) {
	extra := &tensor.Desc{Name: "model.layers.0.self_attn.rotary_scale.weight", DType: tensor.F32, Shape: []int64{4},
		Src: &tensor.Bytes{Data: make([]byte, 16), RowBytes: 16, What: "test"}}
	cases := []struct {
		name  string
		model func(t *testing.T) string
		want  []string
	}{
		{"unknown architecture", func(t *testing.T) string {
			return brokenModel(t, func(c map[string]any) { c["architectures"] = []string{"FooForCausalLM"}; c["model_type"] = "foo" }, nil, true)
		}, []string{`stage "arch"`, "FooForCausalLM", "llama", "qwen2"}},
		{"config contradicts tensors", func(t *testing.T) string {
			return brokenModel(t, func(c map[string]any) { c["num_hidden_layers"] = 4 }, nil, true)
		}, []string{`stage "arch"`, "config says 4 layers but the tensors have 2"}},
		{"unmapped tensor", func(t *testing.T) string {
			return brokenModel(t, nil, []*tensor.Desc{extra}, true)
		}, []string{`stage "arch"`, "map to no llama tensor: model.layers.0.self_attn.rotary_scale.weight"}},
		// llama.cpp's converter pads the token list to vocab_size with
		// [PADi] entries; past the embedding's 512 rows the file is large
		// and llama.cpp cannot load it (its token count must equal them).
		{"vocab_size past the embedding", func(t *testing.T) string {
			return brokenModel(t, func(c map[string]any) { c["vocab_size"] = 1 << 24 }, nil, true)
		}, []string{`stage "gguf"`, "config.json: vocab_size 16777216", "token embedding has 512 rows"}},
		{"missing tokenizer", func(t *testing.T) string {
			return brokenModel(t, nil, nil, false)
		}, []string{`stage "gguf"`, "tokenizer.model", "tokenizer.json"}},
	}
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outDir := t.TempDir()
			vars := map[string]string{"model": c.model(t), "out": filepath.Join(outDir, "x.gguf"), "type": "Q4_K_M"}
			r, err := pipeline.Load(filepath.Join(root, "recipes", "hf-to-gguf.yaml"), vars, stages.Registry())
			if err != nil {
				t.Fatal(err)
			}
			_, err = pipeline.Run(context.Background(), r, pipeline.RunOptions{Threads: 2})
			ps, ok := pipeline.AsProblems(err)
			if !ok {
				t.Fatalf("want a plan-time problem (before any weight is read), got %v", err)
			}
			if len(ps) != 1 {
				t.Errorf("want one error, got %d:\n%v", len(ps), ps)
			}
			for _, w := range c.want {
				if !strings.Contains(ps.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, ps)
				}
			}
			if ents, err := os.ReadDir(outDir); err != nil || len(ents) != 0 {
				t.Errorf("output dir holds %v (%v); want it empty", ents, err)
			}
		})
	}
}
