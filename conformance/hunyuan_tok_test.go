package conformance

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// TestHunyuanA13BCheckpoint: a Hunyuan-A13B checkpoint as Tencent ships it
// (no tokenizer.json: hy.tiktoken and tokenizer_config.json, 128167 token
// ids) converts end to end: testdata/arch/hunyuan-moe's tiny model with its
// embedding grown to 128167 rows (made here, not committed: 33 MB) and
// stages/vocab's hy.tiktoken fixture. The tokenizer keys are those of the
// converter's --vocab-only file for that fixture, and llama.cpp runs the
// result.
func TestHunyuanA13BCheckpoint(t *testing.T) {
	bin, _ := harness(t)
	root := filepath.Join(corpus.Root(t), "testdata")
	mod, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	fixture := filepath.Join(mod, "stages", "vocab", "testdata", "hunyuan-a13b")
	dir := filepath.Join(t.TempDir(), "hunyuan-a13b")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cfg, ids map[string]any
	readConfig(t, filepath.Join(root, "arch", "hunyuan-moe"), &cfg)
	readConfig(t, fixture, &ids)
	for _, k := range []string{"vocab_size", "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "eod_token_id"} {
		cfg[k] = ids[k]
	}
	b, err := json.Marshal(cfg)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	}
	for _, f := range []string{"hy.tiktoken", "tokenizer_config.json"} {
		if err == nil {
			var data []byte
			if data, err = os.ReadFile(filepath.Join(fixture, f)); err == nil {
				err = os.WriteFile(filepath.Join(dir, f), data, 0o644)
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	n, _ := ids["vocab_size"].(float64)
	grownEmbedding(t, filepath.Join(root, "arch", "hunyuan-moe", "model.safetensors"), filepath.Join(dir, "model.safetensors"), int64(n))

	out := filepath.Join(t.TempDir(), "f16.gguf")
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": dir, "out": out, "type": "F16"})
	ref, err := corpus.LoadReference(filepath.Join(mod, "stages", "vocab", "testdata", "hunyuan-a13b.gguf.json"))
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := corpus.DiffGGUF(out, ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if strings.Contains(d, "tokenizer.") && !strings.HasPrefix(d, "extra tensor") {
			t.Error(d)
		}
	}
	var rows [][]float64
	if err := json.Unmarshal([]byte(logits(t, bin, out, []string{"1", "300", "127959"})), &rows); err != nil {
		t.Fatalf("llama.cpp's logits: %v", err)
	}
	for i, r := range rows {
		if len(r) != int(n) {
			t.Fatalf("position %d: %d logits, want %d", i, len(r), int(n))
		}
		for j, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("position %d, token %d: logit %v", i, j, v)
			}
		}
	}
}

// grownEmbedding copies src to dst with model.embed_tokens.weight grown to
// rows rows (the new ones zero).
func grownEmbedding(t *testing.T, src, dst string, rows int64) {
	t.Helper()
	set, err := safetensors.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	ts := make([]*tensor.Desc, 0, len(set.Tensors))
	for _, d := range set.Tensors {
		if d.Name == "model.embed_tokens.weight" {
			old, err := tensor.ReadAll(d)
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, rows*d.RowBytes())
			copy(data, old)
			d = &tensor.Desc{Name: d.Name, DType: d.DType, Shape: []int64{rows, d.Shape[1]},
				Src: &tensor.Bytes{Data: data, RowBytes: d.RowBytes(), What: "grown embedding"}}
		}
		ts = append(ts, d)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(f, ts, nil); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
