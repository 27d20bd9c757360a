package arch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestExprPowerStringsUniform: ** is Python's (right-associative, tighter
// than *), 'quoted' strings compare with config strings, and uniform(path)
// is the one value of a per-layer list (Hunyuan-MoE's moe_topk).
func TestExprPowerStringsUniform(t *testing.T) {
	h := newHParams(map[string]any{"model_type": "internlm3", "topk": []any{8.0, 8.0}, "mixed": []any{8.0, 4.0},
		"k": 6.0, "none": []any{}, "rope_scaling": map[string]any{"type": "dynamic", "alpha": 1000.0}}, nil)
	for src, want := range map[string]float64{
		"2 ** 3 ** 2": 512, "2 * 3 ** 2": 18, "(2 * 3) ** 2": 36, "10000 * rope.alpha ** (128 / (128 - 2))": 1.1158839925077479e7,
		"model_type == 'internlm3'": 1, "model_type == 'llama'": 0, "model_type != 'llama'": 1,
		"(rope.rope_type == 'dynamic') + (rope.rope_type == 'xdrope')": 1,
		"uniform(topk)": 8, "uniform(k) + 1": 7,
	} {
		if got, err := h.evalNum(src); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", src, got, err, want)
		}
	}
	for src, want := range map[string]string{
		"uniform(mixed)": "differs between entries", "uniform(none)": "empty list", "uniform(model_type)": "not a list or a number",
		"uniform(absent)": "config has none of absent", "uniform(1, 2)": "uniform takes one config path", "(0 - 1) ** 0.5": "not a finite number",
	} {
		if _, err := h.evalNum(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

// TestHunyuanDropsTiedHead: a stored lm_head is dropped when the
// embeddings are tied, as HunYuanModel does, and kept otherwise.
func TestHunyuanDropsTiedHead(t *testing.T) {
	a := mustLookup(t, "hunyuan-dense")
	base := map[string]any{"architectures": []any{"HunYuanDenseV1ForCausalLM"}, "num_hidden_layers": 1.0, "hidden_size": 8.0,
		"num_attention_heads": 2.0, "num_key_value_heads": 1.0, "head_dim": 4.0}
	for _, tie := range []any{true, false, nil} {
		cfg := with(base, "tie_word_embeddings", tie)
		ts := []*tensor.Desc{mk("model.embed_tokens.weight", 0, 4, 8), mk("lm_head.weight", 100, 4, 8)}
		if err := a.Check(cfg, ts); err != nil {
			t.Fatal(err)
		}
		out, err := a.Remap(cfg, ts)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"token_embd.weight", "output.weight"}
		if tie == true {
			want = want[:1]
		}
		eqStrings(t, fmt.Sprintf("tensors with tie_word_embeddings %v", tie), names(out), want)
	}
}

// TestHunyuanKeys: NTK-alpha ("dynamic") rope scaling rewrites the rope
// base and the context as the converter does; without it none of those
// keys are written. The MoE's per-layer lists give one value each, and
// its rope base takes hidden / heads (here 128), not head_dim.
func TestHunyuanKeys(t *testing.T) {
	dense := map[string]any{"architectures": []any{"HunYuanDenseV1ForCausalLM"}, "num_hidden_layers": 2.0, "hidden_size": 64.0,
		"num_attention_heads": 4.0, "num_key_value_heads": 2.0, "head_dim": 16.0, "max_position_embeddings": 32768.0,
		"rope_theta": 10000.0, "num_experts": 1.0, "rope_scaling": map[string]any{"type": "dynamic", "alpha": 1000.0, "factor": 1.0}}
	eqStrings(t, "dense keys", keyList(t, mustLookup(t, "hunyuan-dense"), dense), []string{
		"hunyuan-dense.block_count=UINT32:2", "hunyuan-dense.context_length=UINT32:262144", "hunyuan-dense.embedding_length=UINT32:64",
		"hunyuan-dense.attention.head_count=UINT32:4", "hunyuan-dense.attention.head_count_kv=UINT32:2",
		"hunyuan-dense.rope.freq_base=FLOAT32:2.6826958e+07", "hunyuan-dense.attention.key_length=UINT32:16",
		"hunyuan-dense.attention.value_length=UINT32:16", "hunyuan-dense.rope.scaling.type=STRING:none",
		"hunyuan-dense.rope.scaling.factor=FLOAT32:1", "hunyuan-dense.rope.scaling.original_context_length=UINT32:262144"})
	eqStrings(t, "dense keys without rope scaling", keyList(t, mustLookup(t, "hunyuan-dense"), with(dense, "rope_scaling", nil)), []string{
		"hunyuan-dense.block_count=UINT32:2", "hunyuan-dense.context_length=UINT32:32768", "hunyuan-dense.embedding_length=UINT32:64",
		"hunyuan-dense.attention.head_count=UINT32:4", "hunyuan-dense.attention.head_count_kv=UINT32:2",
		"hunyuan-dense.rope.freq_base=FLOAT32:10000", "hunyuan-dense.attention.key_length=UINT32:16",
		"hunyuan-dense.attention.value_length=UINT32:16"})
	moe := with(dense, "architectures", []any{"HunYuanMoEV1ForCausalLM"}, "num_experts", 4.0, "intermediate_size", 32.0, "hidden_size", 512.0,
		"moe_topk", []any{2.0, 2.0}, "moe_intermediate_size", []any{16.0, 16.0}, "num_shared_expert", []any{1.0, 1.0})
	got := strings.Join(keyList(t, mustLookup(t, "hunyuan-moe"), moe), " ")
	for _, want := range []string{"hunyuan-moe.expert_count=UINT32:4", "hunyuan-moe.expert_feed_forward_length=UINT32:16",
		"hunyuan-moe.expert_used_count=UINT32:2", "hunyuan-moe.expert_shared_count=UINT32:1",
		"hunyuan-moe.expert_shared_feed_forward_length=UINT32:32", "hunyuan-moe.rope.freq_base=FLOAT32:1.115884e+07"} {
		if !strings.Contains(got, want) {
			t.Errorf("hunyuan-moe keys lack %s: %s", want, got)
		}
	}
	if _, err := mustLookup(t, "hunyuan-moe").HParams(with(moe, "moe_topk", []any{2.0, 4.0})); err == nil || !strings.Contains(err.Error(), "differs between entries") {
		t.Errorf("per-layer top-k 2, 4: %v, want an error", err)
	}
}

// TestTokenizerSourceKeys: InternLM2's add_space_prefix is the
// SentencePiece model's add_dummy_prefix (true when unset), its EOS the
// last added <|im_end|> (tokenizer.json after tokenizer_config.json);
// InternLM3 (the llama table, its model_type only) takes only a special one
// from tokenizer_config.json.
func TestTokenizerSourceKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// ModelProto{normalizer_spec (3): {name (1): "x", add_dummy_prefix (3): false}}
	write("tokenizer.model", "\x1a\x05\x0a\x01x\x18\x00")
	write("tokenizer_config.json", `{"added_tokens_decoder": {"7": {"content": "<|im_end|>", "special": false},
		"5": {"content": "<|im_end|>", "special": true}, "6": {"content": "<s>", "special": true}}}`)
	spm := func(a *Arch, cfg map[string]any) string {
		t.Helper()
		m, err := a.SentencePieceMetaIn(cfg, dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		if m != nil {
			for _, kv := range m.All() {
				out = append(out, fmt.Sprintf("%s=%v", kv.Key, kv.Value.V))
			}
		}
		return strings.Join(out, " ")
	}
	i2, llama := mustLookup(t, "internlm2"), mustLookup(t, "llama")
	cfg := map[string]any{"architectures": []any{"InternLM2ForCausalLM"}}
	if got, want := spm(i2, cfg), "tokenizer.ggml.add_space_prefix=false tokenizer.ggml.eos_token_id=5"; got != want {
		t.Errorf("internlm2: %s, want %s", got, want)
	}
	write("tokenizer.json", `{"added_tokens": [{"id": 9, "content": "<|im_end|>"}, {"id": 3, "content": "<pad>"}]}`)
	if got, want := spm(i2, cfg), "tokenizer.ggml.add_space_prefix=false tokenizer.ggml.eos_token_id=9"; got != want {
		t.Errorf("internlm2 with tokenizer.json: %s, want %s", got, want)
	}
	if got, want := spm(llama, map[string]any{"model_type": "internlm3"}), "tokenizer.ggml.eos_token_id=5"; got != want {
		t.Errorf("internlm3: %s, want %s", got, want)
	}
	if got := spm(llama, map[string]any{"model_type": "llama"}); got != "" {
		t.Errorf("llama: %s, want no keys", got)
	}
	// the shared tiny SentencePiece model leaves add_dummy_prefix unset
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "arch", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	write("tokenizer.model", string(b))
	os.Remove(filepath.Join(dir, "tokenizer.json"))
	os.Remove(filepath.Join(dir, "tokenizer_config.json"))
	if got, want := spm(i2, cfg), "tokenizer.ggml.add_space_prefix=true"; got != want {
		t.Errorf("internlm2, no added tokens: %s, want %s", got, want)
	}
	write("tokenizer.model", "\x1a\x05\x0a\x09")
	if _, err := i2.SentencePieceMetaIn(cfg, dir); err == nil || !strings.Contains(err.Error(), "invalid SentencePiece model") {
		t.Errorf("truncated tokenizer.model: %v", err)
	}
	os.Remove(filepath.Join(dir, "tokenizer.model"))
	if _, err := i2.SentencePieceMetaIn(cfg, dir); err == nil || !strings.Contains(err.Error(), "tokenizer.model in the model folder") {
		t.Errorf("no tokenizer.model: %v", err)
	}
	if _, err := i2.SentencePieceMeta(cfg); err == nil || !strings.Contains(err.Error(), "no model folder") {
		t.Errorf("no folder: %v", err)
	}
}

// TestParseTokenizerSource: the tokenizer-file sources are checked, and
// only sentencepiece_keys may use them (the header has no folder).
func TestParseTokenizerSource(t *testing.T) {
	for _, bad := range []struct{ yaml, want string }{
		{"arch: x\nkeys:\n  - {key: tokenizer.ggml.add_space_prefix, spm: add_dummy_prefix, type: BOOL}\n", "read only in sentencepiece_keys"},
		{"arch: x\nsentencepiece_keys:\n  - {key: tokenizer.ggml.add_space_prefix, spm: remove_extra_whitespaces, type: BOOL}\n", `unknown spm field "remove_extra_whitespaces"`},
		{"arch: x\nsentencepiece_keys:\n  - {key: tokenizer.ggml.eos_token_id, added_token_special: true, type: UINT32}\n", "added_token_special without added_token"},
		{"arch: x\nsentencepiece_keys:\n  - {key: tokenizer.ggml.eos_token_id, spm: add_dummy_prefix, added_token: x, type: UINT32}\n", "give one"},
	} {
		if _, err := Parse([]byte(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Parse(%q): %v, want %q", bad.yaml, err, bad.want)
		}
	}
}
