package arch

import (
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

func llamaCfg() map[string]any {
	return map[string]any{
		"architectures": []any{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": 16.0, "num_attention_heads": 4.0, "num_key_value_heads": 2.0,
		"num_hidden_layers": 1.0, "intermediate_size": 32.0, "vocab_size": 8.0,
		"max_position_embeddings": 64.0, "rms_norm_eps": 1e-5,
		"rope_parameters": map[string]any{"rope_theta": 500000.0, "rope_type": "default"},
	}
}

func llamaTensors() []*tensor.Desc {
	return []*tensor.Desc{
		mk("model.embed_tokens.weight", 0, 8, 16),
		mk("model.layers.0.input_layernorm.weight", 1000, 16),
		mk("model.layers.0.self_attn.q_proj.weight", 2000, 16, 16),
		mk("model.layers.0.self_attn.k_proj.weight", 3000, 8, 16),
		mk("model.layers.0.self_attn.v_proj.weight", 4000, 8, 16),
		mk("model.layers.0.self_attn.o_proj.weight", 5000, 16, 16),
		mk("model.layers.0.self_attn.rotary_emb.inv_freq", 0, 2),
		mk("model.layers.0.post_attention_layernorm.weight", 6000, 16),
		mk("model.layers.0.mlp.gate_proj.weight", 7000, 32, 16),
		mk("model.layers.0.mlp.up_proj.weight", 8000, 32, 16),
		mk("model.layers.0.mlp.down_proj.weight", 9000, 16, 32),
		mk("model.norm.weight", 10000, 16),
		mk("lm_head.weight", 11000, 8, 16),
	}
}

// hfUnpermute is an independent statement of the Q/K row order: HF keeps,
// per head, the first rotary half of the rows then the second; GGUF
// interleaves them (row 2i+j of a head is HF row j*half+i).
func hfUnpermute(in []float32, rows, cols, heads int) []float32 {
	half := rows / heads / 2
	out := make([]float32, 0, len(in))
	for h := 0; h < heads; h++ {
		for i := 0; i < half; i++ {
			for j := 0; j < 2; j++ {
				r := h*2*half + j*half + i
				out = append(out, in[r*cols:(r+1)*cols]...)
			}
		}
	}
	return out
}

func TestLlamaRemap(t *testing.T) {
	cfg := llamaCfg()
	ts := llamaTensors()
	a, err := Detect(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Remap(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "order", names(out), []string{"token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight",
		"blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight", "blk.0.ffn_norm.weight",
		"blk.0.ffn_gate.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "output_norm.weight", "output.weight"})
	m := byName(out)
	eqFloats(t, "attn_q", floats(t, m["blk.0.attn_q.weight"]), hfUnpermute(floats(t, ts[2]), 16, 16, 4))
	eqFloats(t, "attn_k", floats(t, m["blk.0.attn_k.weight"]), hfUnpermute(floats(t, ts[3]), 8, 16, 2))
	eqFloats(t, "attn_v", floats(t, m["blk.0.attn_v.weight"]), floats(t, ts[4]))
	eqStrings(t, "keys", keyList(t, a, cfg), []string{
		"llama.block_count=UINT32:1", "llama.context_length=UINT32:64", "llama.embedding_length=UINT32:16",
		"llama.feed_forward_length=UINT32:32", "llama.attention.head_count=UINT32:4", "llama.attention.head_count_kv=UINT32:2",
		"llama.rope.freq_base=FLOAT32:500000", "llama.attention.layer_norm_rms_epsilon=FLOAT32:1e-05",
		"llama.vocab_size=UINT32:8", "llama.rope.dimension_count=UINT32:4"})
}

func TestLlamaBiasPermute(t *testing.T) {
	cfg := llamaCfg()
	ts := llamaTensors()
	bias := mk("model.layers.0.self_attn.k_proj.bias", 500, 8)
	ts = append(ts, bias)
	out, err := mustLookup(t, "llama").Remap(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	eqFloats(t, "attn_k.bias", floats(t, byName(out)["blk.0.attn_k.bias"]), hfUnpermute(floats(t, bias), 8, 1, 2))
}

func TestLlama3RopeFreqs(t *testing.T) {
	cfg := llamaCfg()
	cfg["rope_parameters"] = map[string]any{"rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0,
		"low_freq_factor": 1.0, "high_freq_factor": 4.0}
	cfg["head_dim"] = 128.0
	cfg["hidden_size"] = 512.0
	out, err := mustLookup(t, "llama").Remap(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Name != "rope_freqs.weight" || out[0].Shape[0] != 64 {
		t.Fatalf("got %v", out)
	}
	f := floats(t, out[0])
	// high frequencies are kept (1), low ones divided by the factor (8), with
	// a smooth ramp between (Llama 3.1's published scheme).
	if f[0] != 1 || f[63] != 8 {
		t.Fatalf("ends %v %v", f[0], f[63])
	}
	for i := 1; i < 64; i++ {
		if f[i] < f[i-1] {
			t.Fatalf("not monotonic at %d: %v", i, f)
		}
	}
}

func TestMixtralStack(t *testing.T) {
	cfg := llamaCfg()
	cfg["architectures"] = []any{"MixtralForCausalLM"}
	cfg["num_local_experts"] = 2.0
	cfg["num_experts_per_tok"] = 1.0
	ts := []*tensor.Desc{mk("model.layers.0.block_sparse_moe.gate.weight", 0, 2, 16)}
	var members [3][2]*tensor.Desc
	for x := 0; x < 2; x++ {
		for w := 0; w < 3; w++ {
			d := mk("model.layers.0.block_sparse_moe.experts."+string(rune('0'+x))+".w"+string(rune('1'+w))+".weight", float32(1000*(w*2+x+1)), 4, 16)
			members[w][x] = d
			ts = append(ts, d)
		}
	}
	out, err := mustLookup(t, "llama").Remap(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "order", names(out), []string{"blk.0.ffn_gate_inp.weight", "blk.0.ffn_gate_exps.weight", "blk.0.ffn_down_exps.weight", "blk.0.ffn_up_exps.weight"})
	for w, n := range []string{"blk.0.ffn_gate_exps.weight", "blk.0.ffn_down_exps.weight", "blk.0.ffn_up_exps.weight"} {
		d := byName(out)[n]
		if d.Shape[0] != 2 || d.Shape[1] != 4 || d.Shape[2] != 16 {
			t.Fatalf("%s shape %v", n, d.Shape)
		}
		eqFloats(t, n, floats(t, d), append(floats(t, members[w][0]), floats(t, members[w][1])...))
	}
	if got := OutType("blk.0.ffn_gate_inp.weight", []int64{2, 16}, tensor.F16); got != tensor.F32 {
		t.Fatalf("router type %v", got)
	}
	keys := strings.Join(keyList(t, mustLookup(t, "llama"), cfg), " ")
	if !strings.Contains(keys, "llama.expert_count=UINT32:2 llama.expert_used_count=UINT32:1") {
		t.Fatalf("keys %s", keys)
	}
	// a missing expert is an error naming it
	_, err = mustLookup(t, "llama").Remap(cfg, ts[:len(ts)-1])
	if err == nil || !strings.Contains(err.Error(), "ffn_up_exps.weight[1]") {
		t.Fatalf("err %v", err)
	}
}

func TestQwen2MoE(t *testing.T) {
	cfg := map[string]any{"architectures": []any{"Qwen2MoeForCausalLM"}, "hidden_size": 16.0, "num_attention_heads": 2.0,
		"num_key_value_heads": 2.0, "num_hidden_layers": 1.0, "num_experts": 2.0, "num_experts_per_tok": 1.0,
		"moe_intermediate_size": 4.0, "shared_expert_intermediate_size": 8.0, "intermediate_size": 32.0}
	ts := []*tensor.Desc{mk("model.layers.0.mlp.gate.weight", 0, 2, 16), mk("model.layers.0.mlp.shared_expert_gate.weight", 0, 1, 16)}
	for _, p := range []string{"gate_proj", "up_proj", "down_proj"} {
		for x := 0; x < 2; x++ {
			ts = append(ts, mk("model.layers.0.mlp.experts."+string(rune('0'+x))+"."+p+".weight", float32(x), 4, 16))
		}
	}
	a, err := Detect(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Remap(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "order", names(out), []string{"blk.0.ffn_gate_inp.weight", "blk.0.ffn_gate_inp_shexp.weight",
		"blk.0.ffn_down_exps.weight", "blk.0.ffn_gate_exps.weight", "blk.0.ffn_up_exps.weight"})
	if OutType("blk.0.ffn_gate_inp_shexp.weight", []int64{1, 16}, tensor.Q8_0) != tensor.F32 {
		t.Fatal("shared expert gate not F32")
	}
	eqStrings(t, "keys", keyList(t, a, cfg), []string{"qwen2moe.block_count=UINT32:1", "qwen2moe.embedding_length=UINT32:16",
		"qwen2moe.feed_forward_length=UINT32:32", "qwen2moe.attention.head_count=UINT32:2", "qwen2moe.attention.head_count_kv=UINT32:2",
		"qwen2moe.expert_count=UINT32:2", "qwen2moe.expert_used_count=UINT32:1", "qwen2moe.expert_feed_forward_length=UINT32:4",
		"qwen2moe.expert_shared_feed_forward_length=UINT32:8"})
}

func TestLlamaUnmapRoundTrip(t *testing.T) {
	cfg := llamaCfg()
	ts := llamaTensors()
	a := mustLookup(t, "llama")
	out, err := a.Remap(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := a.HParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, hts, err := a.Unmap(meta, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"hidden_size", "num_attention_heads", "num_key_value_heads", "num_hidden_layers", "vocab_size"} {
		if back[k] != cfg[k] {
			t.Errorf("%s = %v, want %v", k, back[k], cfg[k])
		}
	}
	orig := byName(ts)
	if len(hts) != len(ts)-1 { // the inv_freq buffer is gone for good
		t.Fatalf("%d tensors back", len(hts))
	}
	for _, d := range hts {
		o := orig[d.Name]
		if o == nil {
			t.Fatalf("unexpected %s", d.Name)
		}
		eqFloats(t, d.Name, floats(t, d), floats(t, o))
	}
}
