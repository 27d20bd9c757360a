package arch

import (
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

func TestDetectErrors(t *testing.T) {
	cases := []struct {
		name string
		edit func(cfg map[string]any, ts []*tensor.Desc) []*tensor.Desc
		want []string
	}{
		{"unknown arch", func(cfg map[string]any, ts []*tensor.Desc) []*tensor.Desc {
			cfg["architectures"] = []any{"MambaForCausalLM"}
			cfg["model_type"] = "mamba"
			return ts
		}, []string{"unknown architecture MambaForCausalLM", "llama", "qwen2moe", "falcon"}},
		{"layer count", func(cfg map[string]any, ts []*tensor.Desc) []*tensor.Desc {
			cfg["num_hidden_layers"] = 4.0
			return ts
		}, []string{"config says 4 layers but the tensors have 1"}},
		{"kv heads", func(cfg map[string]any, ts []*tensor.Desc) []*tensor.Desc {
			cfg["num_key_value_heads"] = 4.0
			return ts
		}, []string{"model.layers.0.self_attn.k_proj.weight has 8 in dimension 0", "n_kv_head * head_dim = 16"}},
		{"foreign tensor", func(cfg map[string]any, ts []*tensor.Desc) []*tensor.Desc {
			return append(ts, mk("transformer.h.0.mlp.c_fc.weight", 0, 2, 2))
		}, []string{"map to no llama tensor: transformer.h.0.mlp.c_fc.weight"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := llamaCfg()
			ts := c.edit(cfg, llamaTensors())
			_, err := Detect(cfg, ts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestRemapErrors(t *testing.T) {
	a := mustLookup(t, "llama")
	cfg := llamaCfg()
	for _, c := range []struct {
		name string
		ts   []*tensor.Desc
		want string
	}{
		{"unmapped", []*tensor.Desc{mk("model.layers.0.weird.weight", 0, 2)}, `tensor "model.layers.0.weird.weight" maps to no llama tensor`},
		{"bad permute", []*tensor.Desc{mk("model.layers.0.self_attn.q_proj.weight", 0, 6, 4)}, "6 rows do not split into 4 heads"},
		{"duplicate", []*tensor.Desc{mk("model.norm.weight", 0, 4), mk("model.norm.weight", 0, 4)}, "two tensors map to output_norm.weight"},
		{"bad shape", []*tensor.Desc{{Name: "model.norm.weight", DType: tensor.F32, Shape: []int64{-1}, Src: &tensor.Bytes{}}}, "negative dimension"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := a.Remap(cfg, c.ts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
	// a missing required key names the config keys tried
	bad := llamaCfg()
	delete(bad, "vocab_size")
	if _, err := a.HParams(bad); err == nil || !strings.Contains(err.Error(), "llama.vocab_size: config has none of vocab_size") {
		t.Fatalf("err %v", err)
	}
	bad = llamaCfg()
	bad["num_hidden_layers"] = -3.0
	if _, err := a.HParams(bad); err == nil || !strings.Contains(err.Error(), "out of UINT32 range") {
		t.Fatalf("err %v", err)
	}
}

func TestParseTable(t *testing.T) {
	custom := []byte(`
arch: tiny
hf_architectures: [TinyForCausalLM]
params:
  n_layer: {from: [layers]}
keys:
  - {key: block_count, param: n_layer, type: UINT32}
  - {key: general.file_type}
tensors:
  - {hf: "blocks.{bid}.w", gguf: "blk.{bid}.ffn_up", suffixes: weight}
`)
	a, err := Parse(custom)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Remap(map[string]any{"layers": 1.0}, []*tensor.Desc{mk("blocks.0.w.weight", 0, 2, 2)})
	if err != nil || out[0].Name != "blk.0.ffn_up.weight" {
		t.Fatalf("%v %v", out, err)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"arch: x\nbogus: 1\n", "field bogus not found"},
		{"hf_architectures: [X]\n", "missing arch"},
		{"arch: x\ntensors:\n  - {hf: a, gguf: b, transforms: [spin]}\n", `unknown transform "spin"`},
		{"arch: x\ntensors:\n  - {hf: a, gguf: b, transforms: [\"permute_qk:nope\"]}\n", `unknown param "nope"`},
		{"arch: x\nkeys:\n  - {key: a, type: FLOAT16}\n", `unknown GGUF type "FLOAT16"`},
		{"arch: x\ngenerate: [magic]\n", `unknown generated tensor "magic"`},
		{"arch: x\ntensors:\n  - {hf: a, gguf: \"blk.{bid}.b\"}\n", "uses {bid}"},
	} {
		if _, err := Parse([]byte(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Parse(%q): %v, want %q", bad.yaml, err, bad.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range Known() {
		b, err := tableFS.ReadFile("tables/" + n + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err != nil {
			return
		}
		cfg := map[string]any{"num_hidden_layers": 1.0, "hidden_size": 8.0, "num_attention_heads": 2.0}
		// Errors are fine here; panics are what the target looks for.
		_, _ = a.HParams(cfg)
		_, _ = a.Remap(cfg, []*tensor.Desc{mk("model.layers.0.self_attn.q_proj.weight", 0, 8, 8)})
	})
}

func TestNamesAndSizeLabel(t *testing.T) {
	for _, c := range []struct {
		id    string
		total int64
		want  modelID
		title string
	}{
		{"tiny-llama-spm", 1443072, modelID{full: "tiny-llama-spm"}, "Tiny Llama Spm"},
		{"meta-llama/Llama-3.2-1B-Instruct", 0, modelID{full: "Llama-3.2-1B-Instruct", org: "meta-llama", basename: "Llama-3.2", sizeLabel: "1B", finetune: "Instruct"}, "Llama 3.2 1B Instruct"},
		{"bloom-7b1", 0, modelID{full: "bloom-7b1", basename: "bloom", sizeLabel: "7.1B"}, "Bloom 7b1"},
		{"mistral-7b-32k", 7_000_000_000, modelID{full: "mistral-7b-32k", basename: "mistral", sizeLabel: "7B", finetune: "32k"}, "Mistral 7b 32k"},
		{"gpt2xl", 0, modelID{full: "gpt2xl"}, "Gpt2Xl"},
	} {
		got := parseModelID(c.id, c.total)
		if got != c.want {
			t.Errorf("parseModelID(%q) = %+v, want %+v", c.id, got, c.want)
		}
		if tt := idToTitle(got.full); tt != c.title {
			t.Errorf("idToTitle(%q) = %q, want %q", got.full, tt, c.title)
		}
	}
	for _, c := range []struct {
		total, shared, expert, count int64
		want                         string
	}{
		{1443072, 0, 0, 0, "1.4M"},
		{1572864, 0, 0, 0, "1.6M"},
		{124439808, 0, 0, 0, "124M"},
		{999, 0, 0, 0, "1.0K"},
		{46_702_792_704, 1_602_224_128, 5_637_144_576, 8, "8x7.2B"},
	} {
		if got := SizeLabel(c.total, c.shared, c.expert, c.count); got != c.want {
			t.Errorf("SizeLabel(%d) = %s, want %s", c.total, got, c.want)
		}
	}
}

func TestOutType(t *testing.T) {
	for _, c := range []struct {
		name  string
		shape []int64
		req   tensor.DType
		want  tensor.DType
	}{
		{"blk.0.attn_q.weight", []int64{64, 64}, tensor.Q8_0, tensor.Q8_0},
		{"blk.0.attn_q.weight", []int64{64, 48}, tensor.Q8_0, tensor.F16},
		{"blk.0.attn_norm.weight", []int64{64}, tensor.BF16, tensor.F32},
		{"blk.0.attn_q_norm.weight", []int64{2, 64}, tensor.F16, tensor.F32},
		{"blk.0.attn_qkv.bias", []int64{2, 64}, tensor.F16, tensor.F32},
		{"token_embd.weight", []int64{512, 256}, tensor.BF16, tensor.BF16},
		{"blk.3.ffn_gate_inp.weight", []int64{8, 64}, tensor.Q8_0, tensor.F32},
		{"rope_freqs.weight", []int64{32}, tensor.F16, tensor.F32},
	} {
		if got := OutType(c.name, c.shape, c.req); got != c.want {
			t.Errorf("OutType(%s %v %v) = %v, want %v", c.name, c.shape, c.req, got, c.want)
		}
	}
}
