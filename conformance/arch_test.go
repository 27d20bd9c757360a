package conformance

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
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
			matchesConverter(t, out, ref, filepath.Join(root, name), "general.name")
		})
	}
	if _, err := os.Stat(filepath.Join(root, "tokenizer.model")); err != nil {
		t.Error(err)
	}
}

// refTokens is the length of a reference's token list.
func refTokens(t *testing.T, ref string) int {
	t.Helper()
	r, err := corpus.LoadReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r.KV["tokenizer.ggml.tokens"].Len
}

// notRunnable are tiny checkpoints llama.cpp refuses whatever their bytes,
// and why; the test checks that it still does.
var notRunnable = map[string]string{
	"deepseek2-lite":  "llama.cpp reads a deepseek2 without q_lora_rank as DeepSeek-V2-Lite only at its 27 layers",
	"phi3":            "llama.cpp's phi3 vocabulary looks up Phi-3's <|end|> token, which the shared tiny SentencePiece model has not",
	"llama4":          "llama.cpp (node-llama-cpp 3.22.1) aborts on this tiny Llama 4 ('tensor buffer not set'), the converter's own file alike",
	"internlm2-added": "InternLM2's reader appends added_tokens.json after the 512 pieces: 514 tokens for 512 embedding rows, which llama.cpp refuses, the converter's own file alike",
}

// TestArchitecturesRunInLlamaCpp loads each F16 conversion into llama.cpp
// and checks that it computes finite logits over the whole vocabulary for
// every position: llama.cpp's loader checks every tensor's shape and every
// key its architecture needs, which a table may match in the converter's
// file and still get wrong for the runtime (a tiny checkpoint llama.cpp
// cannot load is no reference).
func TestArchitecturesRunInLlamaCpp(t *testing.T) {
	bin, _ := harness(t)
	root, refs := archRefs(t)
	ids := []string{"1", "17", "42", "99", "256", "7"}
	for _, ref := range refs {
		if !strings.HasSuffix(ref, "-f16.gguf.json") {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(filepath.Dir(ref)), "-ref")
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": filepath.Join(root, name), "out": out, "type": "F16"})
			if why, ok := notRunnable[name]; ok {
				if err := exec.Command(bin, append([]string{out}, ids...)...).Run(); err == nil {
					t.Fatalf("llama.cpp now runs %s (%s): take it off notRunnable", name, why)
				}
				return
			}
			var rows [][]float64
			if err := json.Unmarshal([]byte(logits(t, bin, out, ids)), &rows); err != nil {
				t.Fatalf("llama.cpp's logits: %v", err)
			}
			if len(rows) != len(ids) {
				t.Fatalf("%d rows of logits, want %d", len(rows), len(ids))
			}
			want := refTokens(t, ref)
			for i, r := range rows {
				if len(r) != want {
					t.Fatalf("position %d: %d logits, want one per token of the vocabulary (%d)", i, len(r), want)
				}
				for j, v := range r {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("position %d, token %d: logit %v", i, j, v)
					}
				}
			}
		})
	}
}
