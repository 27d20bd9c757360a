package conformance

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// editedGGUF writes llama.cpp's F32 conversion of tiny-llama-spm with its
// metadata edited and, if drop names one, a tensor left out.
func editedGGUF(t *testing.T, edit func(*gguf.Meta), drop string) string {
	t.Helper()
	f, c, err := gguf.OpenSet(corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	meta := f.Meta.Clone()
	edit(meta)
	var ts []*tensor.Desc
	for _, d := range f.Tensors {
		if d.Name != drop {
			ts = append(ts, d)
		}
	}
	p := filepath.Join(t.TempDir(), "edited.gguf")
	w, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := gguf.Write(w, meta, ts); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGGUFToHFChecksMetadataAgainstTensors: gguf-to-hf refuses, at plan
// time and with the key named, metadata that contradicts the tensors or
// that transformers would choke on, as hf-to-gguf refuses a config.json
// that contradicts its checkpoint. (The tiny model: 2 blocks, 256-wide
// embedding of 512 tokens, 4 heads.)
func TestGGUFToHFChecksMetadataAgainstTensors(t *testing.T) {
	set := func(k string, v gguf.Value) func(*gguf.Meta) { return func(m *gguf.Meta) { m.Set(k, v) } }
	cases := []struct {
		name string
		edit func(*gguf.Meta)
		drop string
		want string
	}{
		{"absurd block_count", set("llama.block_count", gguf.Uint32(1<<31)), "",
			"llama.block_count is 2147483648 but the tensors have blocks 0..1"},
		{"zero embedding_length", set("llama.embedding_length", gguf.Uint32(0)), "",
			"llama.embedding_length is 0 but token_embd.weight has rows of 256"},
		{"wrong embedding_length", set("llama.embedding_length", gguf.Uint32(300)), "",
			"llama.embedding_length is 300 but token_embd.weight has rows of 256"},
		{"zero head_count", set("llama.attention.head_count", gguf.Uint32(0)), "",
			"llama.attention.head_count is 0, expected a positive count"},
		{"head_count_kv against k_proj", set("llama.attention.head_count_kv", gguf.Uint32(1)), "",
			"k_proj.weight has 128 in dimension 0 but the config gives n_kv_head * head_dim = 64"},
		{"no token_embd", func(*gguf.Meta) {}, "token_embd.weight",
			"no token_embd.weight: a model without its token embedding"},
		{"NaN epsilon", set("llama.attention.layer_norm_rms_epsilon", gguf.Float32(float32(math.NaN()))), "",
			"llama.attention.layer_norm_rms_epsilon is NaN, expected a finite number"},
		{"Inf rope base", set("llama.rope.freq_base", gguf.Float32(float32(math.Inf(1)))), "",
			"llama.rope.freq_base is +Inf, expected a finite number"},
		{"bos past the vocabulary", set("tokenizer.ggml.bos_token_id", gguf.Uint32(70000)), "",
			"tokenizer.ggml.bos_token_id is 70000, past the 512 rows of token_embd.weight"},
	}
	root := corpus.Root(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "hf")
			vars := map[string]string{"model": editedGGUF(t, c.edit, c.drop), "out": out}
			r, err := pipeline.Load(filepath.Join(root, "recipes", "gguf-to-hf.yaml"), vars, stages.Registry())
			if err != nil {
				t.Fatal(err)
			}
			_, err = pipeline.Run(context.Background(), r, pipeline.RunOptions{Threads: 2})
			ps, ok := pipeline.AsProblems(err)
			if !ok {
				t.Fatalf("want a plan-time problem, got %v", err)
			}
			if !strings.Contains(ps.Error(), `stage "hf"`) || !strings.Contains(ps.Error(), c.want) {
				t.Errorf("error lacks %q:\n%v", c.want, ps)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after a refused run (stat: %v)", out, err)
			}
		})
	}
}
