package arch

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// rnd is a tensor of random BF16 (or F16) values in roughly ±[2^-8, 4],
// every element different enough that a misplaced row or element shows,
// and small enough for Gemma's norm + 1 to be exact in float32.
func rnd(r *rand.Rand, dt tensor.DType, name string, shape ...int64) *tensor.Desc {
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(r.Float64()*4 - 2)
		if f[i] > -1.0/256 && f[i] < 1.0/256 {
			f[i] = 0.5
		}
	}
	d := &tensor.Desc{Name: name, DType: dt, Shape: shape}
	b := make([]byte, n*int64(dt.Info().BlockBytes))
	if err := tensor.FromFloat32(dt, f, b); err != nil {
		panic(err)
	}
	d.Src = &tensor.Bytes{Data: b, RowBytes: d.RowBytes(), What: name}
	return d
}

type spec struct {
	name  string
	shape []int64
}

func sp(name string, shape ...int64) spec { return spec{name, shape} }

// block expands {b} in the specs for blocks 0..n-1 and {x} for m members.
func blocks(n, m int, specs ...spec) []spec {
	var out []spec
	for b := 0; b < n; b++ {
		for _, s := range specs {
			name := bytes.ReplaceAll([]byte(s.name), []byte("{b}"), []byte(fmt.Sprint(b)))
			if !bytes.Contains(name, []byte("{x}")) {
				out = append(out, spec{string(name), s.shape})
				continue
			}
			for x := 0; x < m; x++ {
				out = append(out, spec{string(bytes.ReplaceAll(name, []byte("{x}"), []byte(fmt.Sprint(x)))), s.shape})
			}
		}
	}
	return out
}

func cat(parts ...[]spec) []spec {
	var out []spec
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var (
	baseCfg = map[string]any{"hidden_size": 16.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0, "head_dim": 4.0,
		"num_hidden_layers": 2.0, "intermediate_size": 32.0, "vocab_size": 8.0, "max_position_embeddings": 64.0,
		"rms_norm_eps": 1e-6, "rope_parameters": map[string]any{"rope_theta": 10000.0, "rope_type": "default"}}
	attn = []spec{sp("model.layers.{b}.input_layernorm.weight", 16), sp("model.layers.{b}.self_attn.q_proj.weight", 16, 16),
		sp("model.layers.{b}.self_attn.k_proj.weight", 8, 16), sp("model.layers.{b}.self_attn.v_proj.weight", 8, 16),
		sp("model.layers.{b}.self_attn.o_proj.weight", 16, 16), sp("model.layers.{b}.post_attention_layernorm.weight", 16)}
	mlp = []spec{sp("model.layers.{b}.mlp.gate_proj.weight", 32, 16), sp("model.layers.{b}.mlp.up_proj.weight", 32, 16),
		sp("model.layers.{b}.mlp.down_proj.weight", 16, 32)}
	embedT = []spec{sp("model.embed_tokens.weight", 8, 16)}
	head   = []spec{sp("model.norm.weight", 16), sp("lm_head.weight", 8, 16)}
	qkvB   = []spec{sp("model.layers.{b}.self_attn.q_proj.bias", 16), sp("model.layers.{b}.self_attn.k_proj.bias", 8),
		sp("model.layers.{b}.self_attn.v_proj.bias", 8)}
	gemmaNorms = []spec{sp("model.layers.{b}.pre_feedforward_layernorm.weight", 16), sp("model.layers.{b}.post_feedforward_layernorm.weight", 16)}
)

func with(cfg map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range cfg {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// roundTrips are small models of every table: HF config and tensors.
var roundTrips = []struct {
	name, arch string
	cfg        map[string]any
	tensors    []spec
}{
	{"llama", "llama", with(baseCfg, "architectures", []any{"LlamaForCausalLM"}), cat(embedT, blocks(2, 0, append(attn, mlp...)...), head)},
	{"llama-bias", "llama", with(baseCfg, "architectures", []any{"LlamaForCausalLM"}), cat(embedT, blocks(2, 0, append(attn, qkvB...)...), head)},
	{"mixtral", "llama", with(baseCfg, "architectures", []any{"MixtralForCausalLM"}, "num_local_experts", 2.0, "num_experts_per_tok", 1.0),
		cat(embedT, blocks(2, 2, append(attn, sp("model.layers.{b}.block_sparse_moe.gate.weight", 2, 16),
			sp("model.layers.{b}.block_sparse_moe.experts.{x}.w1.weight", 32, 16), sp("model.layers.{b}.block_sparse_moe.experts.{x}.w2.weight", 16, 32),
			sp("model.layers.{b}.block_sparse_moe.experts.{x}.w3.weight", 32, 16))...), head)},
	{"qwen2", "qwen2", with(baseCfg, "architectures", []any{"Qwen2ForCausalLM"}), cat(embedT, blocks(2, 0, cat(attn, qkvB, mlp)...), head)},
	{"qwen2moe", "qwen2moe", with(baseCfg, "architectures", []any{"Qwen2MoeForCausalLM"}, "num_experts", 2.0, "num_experts_per_tok", 1.0,
		"moe_intermediate_size", 8.0, "shared_expert_intermediate_size", 16.0),
		cat(embedT, blocks(2, 2, cat(attn, qkvB, []spec{sp("model.layers.{b}.mlp.gate.weight", 2, 16), sp("model.layers.{b}.mlp.shared_expert_gate.weight", 1, 16),
			sp("model.layers.{b}.mlp.shared_expert.gate_proj.weight", 16, 16), sp("model.layers.{b}.mlp.shared_expert.up_proj.weight", 16, 16),
			sp("model.layers.{b}.mlp.shared_expert.down_proj.weight", 16, 16), sp("model.layers.{b}.mlp.experts.{x}.gate_proj.weight", 8, 16),
			sp("model.layers.{b}.mlp.experts.{x}.up_proj.weight", 8, 16), sp("model.layers.{b}.mlp.experts.{x}.down_proj.weight", 16, 8)})...), head)},
	{"qwen3", "qwen3", with(baseCfg, "architectures", []any{"Qwen3ForCausalLM"}),
		cat(embedT, blocks(2, 0, cat(attn, mlp, []spec{sp("model.layers.{b}.self_attn.q_norm.weight", 4), sp("model.layers.{b}.self_attn.k_norm.weight", 4)})...), head)},
	{"gemma", "gemma", with(baseCfg, "architectures", []any{"GemmaForCausalLM"}), cat(embedT, blocks(2, 0, append(attn, mlp...)...), head[:1])},
	{"gemma2", "gemma2", with(baseCfg, "architectures", []any{"Gemma2ForCausalLM"}, "attn_logit_softcapping", 50.0, "final_logit_softcapping", 30.0, "sliding_window", 16.0),
		cat(embedT, blocks(2, 0, cat(attn, gemmaNorms, mlp)...), head[:1])},
	{"gemma3", "gemma3", with(baseCfg, "architectures", []any{"Gemma3ForCausalLM"}, "sliding_window", 16.0, "final_logit_softcapping", 30.0,
		"rope_parameters", map[string]any{"full_attention": map[string]any{"rope_theta": 1e6, "rope_type": "default"},
			"sliding_attention": map[string]any{"rope_theta": 1e4, "rope_type": "default"}}),
		cat(embedT, blocks(2, 0, cat(attn, gemmaNorms, mlp, []spec{sp("model.layers.{b}.self_attn.q_norm.weight", 4), sp("model.layers.{b}.self_attn.k_norm.weight", 4)})...), head)},
	// layers that are not llama.cpp's every-6th-global: the pattern key
	// (keys_swa.go) comes back as layer_types
	{"gemma3-layer-types", "gemma3", with(baseCfg, "architectures", []any{"Gemma3ForCausalLM"}, "sliding_window", 16.0,
		"layer_types", []any{"sliding_attention", "full_attention"},
		"rope_parameters", map[string]any{"full_attention": map[string]any{"rope_theta": 1e6, "rope_type": "default"},
			"sliding_attention": map[string]any{"rope_theta": 1e4, "rope_type": "default"}}),
		cat(embedT, blocks(2, 0, cat(attn, gemmaNorms, mlp, []spec{sp("model.layers.{b}.self_attn.q_norm.weight", 4), sp("model.layers.{b}.self_attn.k_norm.weight", 4)})...), head)},
	{"phi3", "phi3", with(baseCfg, "architectures", []any{"Phi3ForCausalLM"}, "head_dim", nil, "original_max_position_embeddings", 32.0,
		"rope_theta", 10000.0, "rope_parameters", nil, "partial_rotary_factor", 0.5),
		cat(embedT, blocks(2, 0, sp("model.layers.{b}.input_layernorm.weight", 16), sp("model.layers.{b}.self_attn.qkv_proj.weight", 32, 16),
			sp("model.layers.{b}.self_attn.o_proj.weight", 16, 16), sp("model.layers.{b}.post_attention_layernorm.weight", 16),
			sp("model.layers.{b}.mlp.gate_up_proj.weight", 64, 16), sp("model.layers.{b}.mlp.down_proj.weight", 16, 32)), head)},
	{"gpt2", "gpt2", map[string]any{"architectures": []any{"GPT2LMHeadModel"}, "n_layer": 2.0, "n_positions": 32.0, "n_embd": 16.0, "n_head": 4.0,
		"layer_norm_epsilon": 1e-5},
		cat([]spec{sp("wte.weight", 8, 16), sp("wpe.weight", 32, 16)}, blocks(2, 0, sp("h.{b}.ln_1.weight", 16), sp("h.{b}.ln_1.bias", 16),
			sp("h.{b}.attn.c_attn.weight", 16, 48), sp("h.{b}.attn.c_attn.bias", 48), sp("h.{b}.attn.c_proj.weight", 16, 16), sp("h.{b}.attn.c_proj.bias", 16),
			sp("h.{b}.ln_2.weight", 16), sp("h.{b}.ln_2.bias", 16), sp("h.{b}.mlp.c_fc.weight", 16, 64), sp("h.{b}.mlp.c_fc.bias", 64),
			sp("h.{b}.mlp.c_proj.weight", 64, 16), sp("h.{b}.mlp.c_proj.bias", 16)), []spec{sp("ln_f.weight", 16), sp("ln_f.bias", 16)})},
	{"stablelm", "stablelm", with(baseCfg, "architectures", []any{"StableLmForCausalLM"}, "partial_rotary_factor", 0.25, "layer_norm_eps", 1e-5,
		"use_parallel_residual", false, "rms_norm_eps", nil, "head_dim", nil),
		cat(embedT, blocks(2, 4, cat(attn, mlp, []spec{sp("model.layers.{b}.input_layernorm.bias", 16),
			sp("model.layers.{b}.self_attn.q_layernorm.norms.{x}.weight", 4)})...),
			blocks(2, 2, sp("model.layers.{b}.self_attn.k_layernorm.norms.{x}.weight", 4)), head)},
	{"falcon-7b", "falcon", map[string]any{"architectures": []any{"FalconForCausalLM"}, "num_hidden_layers": 2.0, "num_attention_heads": 4.0,
		"num_kv_heads": 1.0, "hidden_size": 16.0, "layer_norm_epsilon": 1e-5},
		cat([]spec{sp("transformer.word_embeddings.weight", 8, 16)}, blocks(2, 0, sp("transformer.h.{b}.input_layernorm.weight", 16),
			sp("transformer.h.{b}.input_layernorm.bias", 16), sp("transformer.h.{b}.self_attention.query_key_value.weight", 24, 16),
			sp("transformer.h.{b}.self_attention.dense.weight", 16, 16), sp("transformer.h.{b}.mlp.dense_h_to_4h.weight", 64, 16),
			sp("transformer.h.{b}.mlp.dense_4h_to_h.weight", 16, 64)), []spec{sp("transformer.ln_f.weight", 16), sp("lm_head.weight", 8, 16)})},
	{"falcon-40b", "falcon", map[string]any{"architectures": []any{"FalconForCausalLM"}, "num_hidden_layers": 2.0, "num_attention_heads": 4.0,
		"num_kv_heads": 2.0, "hidden_size": 16.0, "layer_norm_epsilon": 1e-5, "new_decoder_architecture": true},
		cat([]spec{sp("transformer.word_embeddings.weight", 8, 16)}, blocks(2, 0, sp("transformer.h.{b}.ln_attn.weight", 16),
			sp("transformer.h.{b}.ln_mlp.weight", 16), sp("transformer.h.{b}.self_attention.query_key_value.weight", 32, 16),
			sp("transformer.h.{b}.self_attention.dense.weight", 16, 16), sp("transformer.h.{b}.mlp.dense_h_to_4h.weight", 64, 16),
			sp("transformer.h.{b}.mlp.dense_4h_to_h.weight", 16, 64)), []spec{sp("transformer.ln_f.weight", 16), sp("lm_head.weight", 8, 16)})},
}

// TestUnmapRoundTrip converts each model HF -> GGUF (F32) -> HF and checks
// that every tensor comes back bit-identical in its own dtype under its
// own name, that nothing else comes back, and that the written config
// gives the same GGUF keys as the original.
func TestUnmapRoundTrip(t *testing.T) {
	for _, c := range roundTrips {
		for _, dt := range []tensor.DType{tensor.BF16, tensor.F16, tensor.F32} {
			if dt != tensor.BF16 && (c.arch == "gemma" || c.arch == "gemma2" || c.arch == "gemma3") {
				// norm + 1 rounds: in float16 for F16 norms, in float32 for
				// F32 ones; only BF16 norms survive it exactly.
				continue
			}
			t.Run(c.name+"/"+dt.String(), func(t *testing.T) { roundTrip(t, c.arch, c.cfg, c.tensors, dt) })
		}
	}
}

func roundTrip(t *testing.T, archName string, cfg map[string]any, specs []spec, dt tensor.DType) {
	a := mustLookup(t, archName)
	r := rand.New(rand.NewPCG(1, uint64(len(specs))))
	var src []*tensor.Desc
	for _, s := range specs {
		src = append(src, rnd(r, dt, s.name, s.shape...))
	}
	if err := a.Check(cfg, src); err != nil {
		t.Fatal(err)
	}
	ggufTs, err := a.Remap(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ggufTs { // an F32 GGUF, as convert_hf_to_gguf --outtype f32 writes
		ggufTs[i] = asDType(t, d, tensor.F32)
	}
	meta, err := a.Header(cfg, ggufTs, HeaderOptions{OutType: tensor.F32, Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	back, hf, err := a.Unmap(meta, ggufTs)
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "GGUF keys from the written config", keyList(t, a, back), keyList(t, a, cfg))
	got := byName(hf)
	if len(got) != len(hf) {
		t.Fatalf("duplicate names in %v", names(hf))
	}
	for _, o := range src {
		name := a.rename(o.Name)
		if _, skip, _ := a.lookup(o.Name); skip {
			continue
		}
		g := got[name]
		if g == nil {
			t.Fatalf("%s did not come back (got %v)", name, names(hf))
		}
		delete(got, name)
		if fmt.Sprint(g.Shape) != fmt.Sprint(o.Shape) {
			t.Fatalf("%s: shape %v, want %v", name, g.Shape, o.Shape)
		}
		gb := readAs(t, g, dt)
		ob, err := tensor.ReadAll(o)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gb, ob) {
			t.Fatalf("%s: bytes differ after the round trip", name)
		}
	}
	if len(got) > 0 {
		t.Fatalf("extra tensors %v", names(hfValues(got)))
	}
}

func readAs(t *testing.T, d *tensor.Desc, dt tensor.DType) []byte {
	t.Helper()
	if d.DType != dt {
		d = asDType(t, d, dt)
	}
	b, err := tensor.ReadAll(d)
	if err != nil {
		t.Fatalf("%s: %v", d.Name, err)
	}
	return b
}

func hfValues(m map[string]*tensor.Desc) []*tensor.Desc {
	var out []*tensor.Desc
	for _, d := range m {
		out = append(out, d)
	}
	return out
}

// TestUnmapErrors: a GGUF tensor no rule names, and a norm that cannot be
// decoded, are errors naming the tensor.
func TestUnmapErrors(t *testing.T) {
	a := mustLookup(t, "gemma")
	meta, err := a.HParams(with(baseCfg, "architectures", []any{"GemmaForCausalLM"}, "num_hidden_layers", 1.0))
	if err != nil {
		t.Fatal(err)
	}
	q := &tensor.Desc{Name: "blk.0.attn_norm.weight", DType: tensor.Q8_0, Shape: []int64{32}, Src: &tensor.Bytes{Data: make([]byte, 34), RowBytes: 34}}
	for _, ts := range [][]*tensor.Desc{{mk("blk.0.mystery.weight", 0, 4)}, {q}} {
		ts = append(ts, mk("token_embd.weight", 0, 8, 16)) // what the metadata check asks of any model
		_, _, err := a.Unmap(meta, ts)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(ts[0].Name)) {
			t.Errorf("Unmap(%s): %v, want an error naming it", ts[0].Name, err)
		}
	}
}

// TestUnmapSlidingWindow: llama.cpp's Phi-3 converter writes a missing
// sliding_window as 0 (Phi-4 has none), and transformers reads 0 as a
// window of no tokens, masking every position; the config gets null back,
// and a real window its value.
func TestUnmapSlidingWindow(t *testing.T) {
	a := mustLookup(t, "phi3")
	base := with(baseCfg, "architectures", []any{"Phi3ForCausalLM"}, "head_dim", nil, "original_max_position_embeddings", 32.0)
	for _, c := range []struct {
		window any
		want   any
	}{{nil, nil}, {2047.0, 2047.0}} {
		cfg := with(base, "sliding_window", c.window)
		meta, err := a.HParams(cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, present := a.Config(meta, nil)["sliding_window"]
		if !present || got != c.want {
			t.Errorf("sliding_window %v: config.json gets %v (present %v), want %v", c.window, got, present, c.want)
		}
	}
}

// TestUnmapGemma3IsTheTextModel: transformers maps model_type gemma3 to
// the multimodal Gemma3ForConditionalGeneration, which finds none of a
// text model's weights; Gemma3ForCausalLM's config is gemma3_text (seen
// loading a gguf-to-hf folder with transformers 5.17, docs/conformance.md).
func TestUnmapGemma3IsTheTextModel(t *testing.T) {
	a := mustLookup(t, "gemma3")
	meta, err := a.HParams(with(baseCfg, "architectures", []any{"Gemma3ForCausalLM"}, "sliding_window", 16.0))
	if err != nil {
		t.Fatal(err)
	}
	cfg := a.Config(meta, nil)
	if cfg["model_type"] != "gemma3_text" || fmt.Sprint(cfg["architectures"]) != "[Gemma3ForCausalLM]" {
		t.Errorf("model_type %v, architectures %v; want gemma3_text, [Gemma3ForCausalLM]", cfg["model_type"], cfg["architectures"])
	}
}
