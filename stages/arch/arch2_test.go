package arch

import (
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

func TestGemmaNormPlusOne(t *testing.T) {
	for _, c := range []struct {
		arch, hf, postAttn string
		in, out            tensor.DType
	}{
		{"gemma", "GemmaForCausalLM", "blk.0.ffn_norm.weight", tensor.BF16, tensor.F32},
		{"gemma", "GemmaForCausalLM", "blk.0.ffn_norm.weight", tensor.F16, tensor.F16},
		{"gemma2", "Gemma2ForCausalLM", "blk.0.post_attention_norm.weight", tensor.F32, tensor.F32},
		{"gemma3", "Gemma3ForCausalLM", "blk.0.post_attention_norm.weight", tensor.BF16, tensor.F32},
	} {
		t.Run(c.arch+"-"+c.in.String(), func(t *testing.T) {
			cfg := map[string]any{"architectures": []any{c.hf}, "hidden_size": 4.0, "num_attention_heads": 1.0,
				"num_key_value_heads": 1.0, "head_dim": 4.0, "num_hidden_layers": 1.0, "max_position_embeddings": 32.0,
				"intermediate_size": 8.0, "rms_norm_eps": 1e-6, "attn_logit_softcapping": 50.0,
				"final_logit_softcapping": 30.0, "sliding_window": 16.0}
			if c.arch == "gemma3" {
				delete(cfg, "attn_logit_softcapping")
			}
			norm := asDType(t, mk("model.layers.0.post_attention_layernorm.weight", -0.5, 4), c.in)
			ts := []*tensor.Desc{norm, mk("model.embed_tokens.weight", 0, 8, 4), mk("lm_head.weight", 0, 8, 4)}
			a, err := Detect(cfg, ts)
			if err != nil {
				t.Fatal(err)
			}
			if a.Arch != c.arch {
				t.Fatalf("arch %s", a.Arch)
			}
			out, err := a.Remap(cfg, ts)
			if err != nil {
				t.Fatal(err)
			}
			d := byName(out)[c.postAttn]
			if d == nil || d.DType != c.out {
				t.Fatalf("got %v", out)
			}
			eqFloats(t, "norm", floats(t, d), []float32{0.5, 1.5, 2.5, 3.5})
			_, hasOut := byName(out)["output.weight"]
			if hasOut != (c.arch == "gemma3") {
				t.Fatalf("output.weight present=%v", hasOut)
			}
		})
	}
}

func TestGemma3Keys(t *testing.T) {
	cfg := map[string]any{"architectures": []any{"Gemma3ForCausalLM"}, "hidden_size": 4.0, "num_hidden_layers": 2.0,
		"intermediate_size": 8.0, "sliding_window": 512.0, "num_key_value_heads": 1.0,
		"rope_parameters": map[string]any{"full_attention": map[string]any{"rope_theta": 1e6, "rope_type": "default"},
			"sliding_attention": map[string]any{"rope_theta": 1e4, "rope_type": "default"}}}
	eqStrings(t, "keys", keyList(t, mustLookup(t, "gemma3"), cfg), []string{
		"gemma3.block_count=UINT32:2", "gemma3.embedding_length=UINT32:4", "gemma3.feed_forward_length=UINT32:8",
		"gemma3.attention.head_count_kv=UINT32:1", "gemma3.rope.freq_base=FLOAT32:1e+06", "gemma3.rope.freq_base_swa=FLOAT32:10000",
		"gemma3.context_length=UINT32:131072", "gemma3.attention.head_count=UINT32:8",
		"gemma3.attention.layer_norm_rms_epsilon=FLOAT32:1e-06", "gemma3.attention.key_length=UINT32:256",
		"gemma3.attention.value_length=UINT32:256", "gemma3.attention.sliding_window=UINT32:512"})
	// truncate_vocab drops padded embedding rows when the tokenizer size is known
	emb := mk("model.language_model.embed_tokens.weight", 0, 10, 4)
	out, err := mustLookup(t, "gemma3").RemapWith(cfg, []*tensor.Desc{emb}, RemapOptions{VocabTokens: 6})
	if err != nil {
		t.Fatal(err)
	}
	eqFloats(t, "token_embd", floats(t, out[0]), floats(t, emb)[:24])
}

func TestGPT2(t *testing.T) {
	cfg := map[string]any{"architectures": []any{"GPT2LMHeadModel"}, "n_layer": 1.0, "n_ctx": 32.0, "n_positions": 32.0,
		"n_embd": 4.0, "n_head": 2.0, "layer_norm_epsilon": 1e-5}
	w := mk("h.0.attn.c_attn.weight", 0, 4, 12)
	ts := []*tensor.Desc{mk("wte.weight", 0, 8, 4), mk("wpe.weight", 0, 32, 4), mk("h.0.ln_1.weight", 0, 4), mk("h.0.ln_1.bias", 0, 4),
		w, mk("h.0.attn.c_attn.bias", 0, 12), mk("h.0.attn.bias", 0, 1, 1, 32, 32), mk("ln_f.weight", 0, 4)}
	a, err := Detect(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Remap(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "order", names(out), []string{"token_embd.weight", "position_embd.weight", "blk.0.attn_norm.weight",
		"blk.0.attn_norm.bias", "blk.0.attn_qkv.weight", "blk.0.attn_qkv.bias", "output_norm.weight"})
	qkv := byName(out)["blk.0.attn_qkv.weight"]
	if qkv.Shape[0] != 12 || qkv.Shape[1] != 4 {
		t.Fatalf("shape %v", qkv.Shape)
	}
	in, got := floats(t, w), floats(t, qkv)
	for r := 0; r < 12; r++ {
		for c := 0; c < 4; c++ {
			if got[r*4+c] != in[c*12+r] {
				t.Fatalf("transpose [%d,%d] = %v, want %v", r, c, got[r*4+c], in[c*12+r])
			}
		}
	}
	if OutType("position_embd.weight", []int64{32, 4}, tensor.F16) != tensor.F32 {
		t.Fatal("position_embd not F32")
	}
	eqStrings(t, "keys", keyList(t, a, cfg), []string{"gpt2.block_count=UINT32:1", "gpt2.context_length=UINT32:32",
		"gpt2.embedding_length=UINT32:4", "gpt2.feed_forward_length=UINT32:16", "gpt2.attention.head_count=UINT32:2",
		"gpt2.attention.layer_norm_epsilon=FLOAT32:1e-05"})
}

func TestFalconQKV(t *testing.T) {
	const nHead, nKV, hd, cols = 4, 2, 2, 8
	cfg := map[string]any{"architectures": []any{"FalconForCausalLM"}, "hidden_size": 8.0, "num_attention_heads": 4.0,
		"num_kv_heads": 2.0, "num_hidden_layers": 1.0, "layer_norm_epsilon": 1e-5}
	w := mk("transformer.h.0.self_attention.query_key_value.weight", 0, (nHead+2*nKV)*hd, cols)
	out, err := mustLookup(t, "falcon").Remap(cfg, []*tensor.Desc{w})
	if err != nil {
		t.Fatal(err)
	}
	in := floats(t, w)
	per := nHead / nKV
	block := func(g, k int) []float32 { // rows of head slot k in kv group g
		r := (g*(per+2) + k) * hd
		return in[r*cols : (r+hd)*cols]
	}
	var want []float32
	for g := 0; g < nKV; g++ {
		for k := 0; k < per; k++ {
			want = append(want, block(g, k)...)
		}
	}
	for g := 0; g < nKV; g++ {
		want = append(want, block(g, per)...)
	}
	for g := 0; g < nKV; g++ {
		want = append(want, block(g, per+1)...)
	}
	eqFloats(t, "attn_qkv", floats(t, out[0]), want)
	keys := keyList(t, mustLookup(t, "falcon"), cfg)
	if keys[0] != "falcon.context_length=UINT32:2048" || keys[1] != "falcon.tensor_data_layout=STRING:jploski" {
		t.Fatalf("keys %v", keys)
	}
}

func TestStableLMNormStack(t *testing.T) {
	cfg := map[string]any{"architectures": []any{"StableLmForCausalLM"}, "hidden_size": 8.0, "num_attention_heads": 2.0,
		"num_key_value_heads": 1.0, "num_hidden_layers": 1.0, "max_position_embeddings": 16.0, "intermediate_size": 16.0,
		"partial_rotary_factor": 0.25, "layer_norm_eps": 1e-5}
	q0, q1 := mk("model.layers.0.self_attn.q_layernorm.norms.0.weight", 0, 4), mk("model.layers.0.self_attn.q_layernorm.norms.1.weight", 10, 4)
	k0 := mk("model.layers.0.self_attn.k_layernorm.norms.0.weight", 20, 4)
	out, err := mustLookup(t, "stablelm").Remap(cfg, []*tensor.Desc{q1, k0, q0})
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "order", names(out), []string{"blk.0.attn_k_norm.weight", "blk.0.attn_q_norm.weight"})
	eqFloats(t, "q_norm", floats(t, out[1]), append(floats(t, q0), floats(t, q1)...))
	keys := strings.Join(keyList(t, mustLookup(t, "stablelm"), cfg), " ")
	if !strings.Contains(keys, "stablelm.rope.dimension_count=UINT32:1 ") || !strings.Contains(keys, "stablelm.use_parallel_residual=BOOL:true") {
		t.Fatalf("keys %s", keys)
	}
}

func TestQwenPhiMistral(t *testing.T) {
	qwen3 := map[string]any{"architectures": []any{"Qwen3ForCausalLM"}, "hidden_size": 8.0, "num_attention_heads": 2.0,
		"num_key_value_heads": 1.0, "head_dim": 4.0, "num_hidden_layers": 1.0, "rope_theta": 1e6, "rms_norm_eps": 1e-6}
	ts := []*tensor.Desc{mk("model.layers.0.self_attn.q_norm.weight", 0, 4), mk("model.layers.0.self_attn.k_proj.weight", 0, 4, 8),
		mk("model.layers.0.self_attn.k_proj.bias", 0, 4)}
	a, err := Detect(qwen3, ts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Remap(qwen3, ts)
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "qwen3", names(out), []string{"blk.0.attn_q_norm.weight", "blk.0.attn_k.weight", "blk.0.attn_k.bias"})
	eqFloats(t, "unpermuted k", floats(t, out[1]), floats(t, ts[1]))
	if OutType("blk.0.attn_k.bias", []int64{4}, tensor.F16) != tensor.F32 {
		t.Fatal("bias not F32")
	}

	phi := map[string]any{"architectures": []any{"Phi3ForCausalLM"}, "hidden_size": 8.0, "num_attention_heads": 2.0,
		"num_key_value_heads": 2.0, "num_hidden_layers": 1.0, "max_position_embeddings": 64.0,
		"original_max_position_embeddings": 32.0, "intermediate_size": 16.0, "rms_norm_eps": 1e-5,
		"rope_parameters": map[string]any{"rope_theta": 10000.0, "rope_type": "default"}}
	eqStrings(t, "phi3 keys", keyList(t, mustLookup(t, "phi3"), phi), []string{"phi3.context_length=UINT32:64",
		"phi3.rope.scaling.original_context_length=UINT32:32", "phi3.embedding_length=UINT32:8", "phi3.feed_forward_length=UINT32:16",
		"phi3.block_count=UINT32:1", "phi3.attention.head_count=UINT32:2", "phi3.attention.head_count_kv=UINT32:2",
		"phi3.attention.layer_norm_rms_epsilon=FLOAT32:1e-05", "phi3.rope.dimension_count=UINT32:4",
		"phi3.rope.freq_base=FLOAT32:10000", "phi3.attention.sliding_window=UINT32:0"})
	pts := []*tensor.Desc{mk("model.layers.0.self_attn.qkv_proj.weight", 0, 24, 8), mk("model.layers.0.mlp.gate_up_proj.weight", 0, 32, 8)}
	out, err = mustLookup(t, "phi3").Remap(phi, pts)
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "phi3", names(out), []string{"blk.0.attn_qkv.weight", "blk.0.ffn_up.weight"})

	mistral := llamaCfg()
	mistral["architectures"] = []any{"MistralForCausalLM"}
	mistral["sliding_window"] = nil
	if a, err := Detect(mistral, llamaTensors()); err != nil || a.Arch != "llama" {
		t.Fatalf("mistral: %v %v", a, err)
	}
}
