package arch

import (
	"math"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// canonicalHF are the config.json names transformers itself writes; when a
// table reads a value from several aliases, Config writes the canonical one.
var canonicalHF = map[string]bool{
	"num_hidden_layers": true, "max_position_embeddings": true, "hidden_size": true, "intermediate_size": true,
	"num_attention_heads": true, "num_key_value_heads": true, "rms_norm_eps": true, "layer_norm_eps": true,
	"layer_norm_epsilon": true, "num_experts_per_tok": true, "head_dim": true, "vocab_size": true,
	"n_positions": true, "n_embd": true, "n_layer": true, "n_head": true, "num_kv_heads": true,
}

// Config builds the config.json of a GGUF model: every key the table
// derives from a config entry is written back under that entry's name (the
// canonical transformers spelling where the table knows aliases), so that
// converting the result again gives the same GGUF keys; rope parameters,
// token ids, the vocabulary size and embedding tying come from the
// metadata and tensors. Values derived by expressions the table cannot
// invert are recovered per architecture (partial rotary factors, Falcon's
// decoder layout).
func (a *Arch) Config(meta *gguf.Meta, tensors []*tensor.Desc) map[string]any {
	cfg := map[string]any{}
	if len(a.HFArchitectures) > 0 {
		cfg["architectures"] = []any{a.HFArchitectures[0]}
	}
	cfg["model_type"] = a.Arch
	if len(a.ModelTypes) > 0 {
		cfg["model_type"] = a.ModelTypes[0]
	}
	get := func(key string) (any, bool) {
		v, ok := meta.Get(a.fullKey(key))
		if !ok {
			return nil, false
		}
		return configValue(v)
	}
	for _, k := range a.Keys {
		if k.Include == "text_model" {
			a.textModelConfig(cfg, get)
			continue
		}
		if v, ok := get(k.Key); ok {
			a.setFrom(cfg, k, v)
		}
	}
	a.rotaryConfig(cfg, get)
	if v, ok := meta.Get(a.fullKey("attention.sliding_window_pattern")); ok {
		// Which layers slide (keys_swa.go): back to transformers' spelling,
		// which it reads ahead of any default pattern.
		if p, ok := v.V.([]bool); ok {
			lt := make([]any, len(p))
			for i, swa := range p {
				lt[i] = map[bool]string{true: "sliding_attention", false: "full_attention"}[swa]
			}
			cfg["layer_types"] = lt
		}
	}
	mropeConfig(cfg, meta, a.fullKey("rope.dimension_sections"))
	if w, ok := cfg["sliding_window"]; ok && w == 0.0 {
		// llama.cpp writes 0 for no window (Phi-3's converter turns None
		// into 0); transformers would read 0 as a window of no tokens.
		cfg["sliding_window"] = nil
	}
	names := map[string]*tensor.Desc{}
	for _, t := range tensors {
		names[t.Name] = t
	}
	if e := names["token_embd.weight"]; e != nil && len(e.Shape) == 2 {
		if _, ok := cfg["vocab_size"]; !ok {
			cfg["vocab_size"] = float64(e.Shape[0])
		}
	}
	_, hasOut := names["output.weight"]
	cfg["tie_word_embeddings"] = !hasOut
	specialIDs(cfg, meta)
	if a.Arch == "falcon" {
		_, norm2 := names["blk.0.attn_norm_2.weight"]
		// the table derives its KV heads from three entries (multi_query
		// decides): written back as num_kv_heads, with the layout flags below
		if v, ok := get("attention.head_count_kv"); ok {
			cfg["num_kv_heads"] = v
		}
		kv, _ := num(cfg["num_kv_heads"])
		cfg["new_decoder_architecture"] = norm2
		cfg["multi_query"] = !norm2 && kv == 1
		cfg["parallel_attn"] = true
		cfg["bias"] = false
		cfg["alibi"] = false
	}
	return cfg
}

// configIDs are the GGUF keys of special token ids (gguf-py's spelling,
// "seperator" included) and the config.json keys transformers reads.
var configIDs = []struct{ gguf, config string }{
	{"tokenizer.ggml.bos_token_id", "bos_token_id"},
	{"tokenizer.ggml.eos_token_id", "eos_token_id"},
	{"tokenizer.ggml.padding_token_id", "pad_token_id"},
	{"tokenizer.ggml.seperator_token_id", "sep_token_id"},
}

// specialIDs writes the special token ids the GGUF records, and null for
// bos, eos and pad when it records none: a key left out makes
// transformers take its class default (Phi-3's pad_token_id is 32000),
// which a smaller vocabulary cannot hold, and the model then fails to
// load. null is what transformers itself writes for an unset id.
func specialIDs(cfg map[string]any, meta *gguf.Meta) {
	for _, id := range configIDs {
		if n, ok := meta.Uint(id.gguf); ok {
			cfg[id.config] = float64(n)
		} else if id.config != "sep_token_id" {
			cfg[id.config] = nil
		}
	}
}

// setFrom writes v under the config name a table key reads.
func (a *Arch) setFrom(cfg map[string]any, k Key, v any) {
	from := []string(k.From)
	if k.Param != "" {
		from = a.Params[k.Param].From
	}
	if len(from) == 0 {
		return // a constant or an expression: nothing in config.json
	}
	name := a.pickAlias(from)
	if _, done := cfg[name]; !done {
		cfg[name] = v
	}
}

// pickAlias prefers transformers' own name, then one the table's params
// read (so the value reaches them), then the first.
func (a *Arch) pickAlias(from []string) string {
	for _, f := range from {
		if canonicalHF[f] {
			return f
		}
	}
	for _, f := range from {
		for _, p := range a.Params {
			if contains(p.From, f) {
				return f
			}
		}
	}
	return from[0]
}

// textModelConfig inverts TextModel.set_gguf_parameters.
func (a *Arch) textModelConfig(cfg map[string]any, get func(string) (any, bool)) {
	for _, k := range append(append([]Key(nil), textKeys...), textKeysAfterRope...) {
		if v, ok := get(k.Key); ok {
			a.setFrom(cfg, k, v)
		}
	}
	if v, ok := get("attention.key_length"); ok {
		cfg["head_dim"] = v
	}
	if v, ok := get("attention.causal"); ok && v == false {
		cfg["is_causal"] = false
	}
	rope := map[string]any{"rope_type": "default"}
	if v, ok := get("rope.freq_base"); ok {
		rope["rope_theta"] = v
	}
	if typ, ok := get("rope.scaling.type"); ok && (typ == "linear" || typ == "yarn") {
		rope["rope_type"] = typ
		for key, name := range map[string]string{"rope.scaling.factor": "factor", "rope.scaling.original_context_length": "original_max_position_embeddings",
			"rope.scaling.yarn_ext_factor": "extrapolation_factor", "rope.scaling.yarn_attn_factor": "attention_factor",
			"rope.scaling.yarn_beta_fast": "beta_fast", "rope.scaling.yarn_beta_slow": "beta_slow"} {
			if v, ok := get(key); ok {
				rope[name] = v
			}
		}
	}
	if swa, ok := get("rope.freq_base_swa"); ok {
		cfg["rope_parameters"] = map[string]any{"full_attention": rope,
			"sliding_attention": map[string]any{"rope_theta": swa, "rope_type": "default"}}
		return
	}
	if _, ok := rope["rope_theta"]; ok {
		cfg["rope_parameters"] = rope
	}
}

// rotaryConfig recovers partial_rotary_factor from rope.dimension_count for
// tables that compute the dimension from it (StableLM, Phi-3).
func (a *Arch) rotaryConfig(cfg map[string]any, get func(string) (any, bool)) {
	rd, ok := get("rope.dimension_count")
	if !ok {
		return
	}
	var from []string
	if p, ok := a.Params["rot"]; ok {
		from = p.From
	} else if p, ok := a.Params["rot_pct"]; ok {
		from = p.From
	}
	if len(from) == 0 {
		return
	}
	d, _ := num(rd)
	embd, _ := num(cfg["hidden_size"])
	heads, _ := num(cfg["num_attention_heads"])
	if embd <= 0 || heads <= 0 {
		return
	}
	// Both tables floor the product, so the smallest factor giving d
	// elements of a head is d / head_dim.
	head := math.Floor(embd / heads)
	if a.Arch == "phi3" {
		head = embd / heads
	}
	cfg[from[0]] = shortFloat(d / head)
}

// configValue turns a GGUF scalar into the JSON-like value configs hold:
// numbers as float64 (as encoding/json decodes them), float32 by its
// shortest spelling, so 1e-05 stays 1e-05.
func configValue(v gguf.Value) (any, bool) {
	switch x := v.V.(type) {
	case string:
		return x, true
	case bool:
		return x, true
	case float32:
		return shortFloat(float64(x)), true
	case float64:
		return x, true
	}
	if f, ok := num(v.V); ok {
		return f, true
	}
	return nil, false
}

func shortFloat(f float64) float64 {
	s := strconv.FormatFloat(f, 'g', -1, 32)
	g, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return f
	}
	return g
}

// mropeConfig inverts the M-RoPE sections (Qwen2-VL): the converter pads
// rope_parameters' mrope_section to four with zeros; the trailing zeros
// go, so the same padding gives the same key again.
func mropeConfig(cfg map[string]any, meta *gguf.Meta, key string) {
	v, ok := meta.Get(key)
	dims, isI32 := v.V.([]int32)
	rope, hasRope := cfg["rope_parameters"].(map[string]any)
	if !ok || !isI32 || !hasRope {
		return
	}
	n := len(dims)
	for n > 0 && dims[n-1] == 0 {
		n--
	}
	sec := make([]any, n)
	for i := range sec {
		sec[i] = float64(dims[i])
	}
	rope["mrope_section"] = sec
}
