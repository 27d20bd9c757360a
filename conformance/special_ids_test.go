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
	"github.com/mlmf-run/mlmf-run/stages/arch"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// configIDs are the GGUF keys llama.cpp records special tokens under
// (gguf-py's Keys.Tokenizer) and the config.json keys transformers reads
// them from. A key the GGUF lacks must be written as null: left out,
// transformers takes its class default (Phi-3's pad_token_id 32000), which
// can lie outside a small vocabulary and stop the model from loading.
var configIDs = map[string]string{
	"tokenizer.ggml.bos_token_id":     "bos_token_id",
	"tokenizer.ggml.eos_token_id":     "eos_token_id",
	"tokenizer.ggml.padding_token_id": "pad_token_id",
}

// TestGGUFToHFWritesSpecialTokenIDs converts every corpus model GGUF back
// to a Hugging Face folder and checks config.json's special token ids
// against what gguf-py reads from the GGUF (its *.gguf.json), plus one
// GGUF given a padding id, since llama.cpp recorded none for these models.
func TestGGUFToHFWritesSpecialTokenIDs(t *testing.T) {
	type tcase struct {
		path string
		want map[string]any // GGUF key -> value, absent when the GGUF has none
	}
	var cases []tcase
	files, _ := filepath.Glob(filepath.Join(corpus.Dir(t), "*-ref", "*.gguf"))
	for _, f := range files {
		ref, err := corpus.LoadReference(f + ".json")
		if err != nil {
			t.Fatal(err)
		}
		name, _ := ref.KV["general.architecture"].Value.(string)
		if typ, _ := ref.KV["general.type"].Value.(string); typ == "adapter" {
			continue
		}
		if _, ok := arch.Lookup(name); !ok {
			continue // the mmproj (clip): no language model to export
		}
		want := map[string]any{}
		for k := range configIDs {
			if v, ok := ref.KV[k]; ok {
				want[k] = v.Value
			}
		}
		cases = append(cases, tcase{f, want})
	}
	if len(cases) < 2 {
		t.Fatalf("%d corpus model GGUFs, want the spm and bpe conversions at least", len(cases))
	}
	padded := editedGGUF(t, func(m *gguf.Meta) { m.Set("tokenizer.ggml.padding_token_id", gguf.Uint32(0)) }, "")
	cases = append(cases, tcase{padded, map[string]any{"tokenizer.ggml.bos_token_id": 1.0, "tokenizer.ggml.eos_token_id": 2.0,
		"tokenizer.ggml.padding_token_id": 0.0}})
	root := corpus.Root(t)
	for _, c := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(c.path), ".gguf"), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "hf")
			r, err := pipeline.Load(filepath.Join(root, "recipes", "gguf-to-hf.yaml"), map[string]string{"model": c.path, "out": out}, stages.Registry())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pipeline.Run(context.Background(), r, pipeline.RunOptions{Threads: 2, NoManifest: true}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]any
			if err := json.Unmarshal(b, &cfg); err != nil {
				t.Fatal(err)
			}
			for gk, ck := range configIDs {
				got, present := cfg[ck]
				want := c.want[gk]
				if !present || got != want {
					t.Errorf("config.json %s = %v (present %v), want %v (the GGUF's %s)", ck, got, present, want, gk)
				}
			}
		})
	}
}
