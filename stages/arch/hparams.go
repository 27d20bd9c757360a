package arch

import (
	"fmt"
	"math"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// keyFileType marks where general.file_type goes among the architecture
// keys: the converter writes it in the middle of set_gguf_parameters.
const keyFileType = "general.file_type"

// HParams returns the {arch}.* keys the converter writes for cfg, in its
// order and with its GGUF types. general.file_type is left out; Header
// places it with the rest of the general.* keys.
func (a *Arch) HParams(cfg map[string]any) (*gguf.Meta, error) {
	return a.hparamKeys(a.hparamsOf(cfg), nil)
}

// SentencePieceMeta returns the tokenizer keys the table adds after a
// SentencePiece vocabulary (its sentencepiece_keys), nil when it adds none.
// Keys read from the tokenizer files need the folder: SentencePieceMetaIn.
func (a *Arch) SentencePieceMeta(cfg map[string]any) (*gguf.Meta, error) {
	return a.SentencePieceMetaIn(cfg, "")
}

func (a *Arch) hparamKeys(h *hparams, fileType *uint32) (*gguf.Meta, error) {
	m := &gguf.Meta{}
	var errs []string
	for _, k := range a.Keys {
		if k.Include != "" {
			if err := includes[k.Include](a, h, m, fileType); err != nil {
				errs = append(errs, err.Error())
			}
			continue
		}
		if err := a.setKey(h, m, k, fileType); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if err := a.swaBeyondConverter(h, m); err != nil {
		errs = append(errs, err.Error())
	}
	if e := a.expertCounts(m); e != "" {
		errs = append(errs, e)
	}
	if e := a.kvHeads(m); e != "" {
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s hyperparameters: %s", a.Arch, strings.Join(errs, "; "))
	}
	return m, nil
}

// kvHeads refuses key/value heads that do not divide the query heads: each
// KV head serves head_count / head_count_kv query heads, in llama.cpp as in
// transformers' repeat_kv. Per-layer counts (arrays) are not checked.
func (a *Arch) kvHeads(m *gguf.Meta) string {
	kv, ok := m.Uint(a.fullKey("attention.head_count_kv"))
	n, ok2 := m.Uint(a.fullKey("attention.head_count"))
	if !ok || !ok2 || kv == 0 || n%kv == 0 {
		return ""
	}
	return fmt.Sprintf("%s = %d does not divide %s = %d (query heads share key/value heads evenly)", a.fullKey("attention.head_count_kv"), kv, a.fullKey("attention.head_count"), n)
}

// expertCounts refuses a router that picks none or more experts than there
// are: llama.cpp's top-k would fail at load or read past the experts.
func (a *Arch) expertCounts(m *gguf.Meta) string {
	used, ok := m.Uint(a.fullKey("expert_used_count"))
	n, ok2 := m.Uint(a.fullKey("expert_count"))
	if !ok || !ok2 || n == 0 || (used >= 1 && used <= n) {
		return ""
	}
	return fmt.Sprintf("%s = %d: want 1 to %s = %d (the experts a token is routed to)", a.fullKey("expert_used_count"), used, a.fullKey("expert_count"), n)
}

// fullKey expands a table key to the GGUF key name.
func (a *Arch) fullKey(k string) string {
	if strings.HasPrefix(k, "general.") || strings.HasPrefix(k, "tokenizer.") {
		return k
	}
	return a.Arch + "." + k
}

func (a *Arch) setKey(h *hparams, m *gguf.Meta, k Key, fileType *uint32) error {
	if k.Key == keyFileType {
		if fileType != nil {
			m.Set(keyFileType, gguf.Uint32(*fileType))
		}
		return nil
	}
	if k.Unless != "" {
		if v, err := h.evalNum(k.Unless); err == nil && v != 0 {
			return nil
		}
	}
	if k.If != "" {
		v, err := h.evalNum(k.If)
		switch {
		case err != nil && !isUnresolved(err):
			return fmt.Errorf("%s: if: %w", a.fullKey(k.Key), err)
		case err != nil || v == 0:
			return nil
		}
	}
	var v any
	var err error
	switch {
	case k.TokenizerSource.set():
		v, err = h.tokenizerValue(k)
	case k.Value != nil:
		v = k.Value
	case k.Param != "":
		v, err = h.get(k.Param)
		if isUnresolved(err) && k.Default != nil {
			v, err = k.Default, nil
		}
	default:
		v, err = h.resolve(k.From, k.Expr, k.Default)
	}
	if err != nil {
		if isUnresolved(err) && k.Optional {
			return nil
		}
		return fmt.Errorf("%s: %w", a.fullKey(k.Key), err)
	}
	gv, err := valueOf(k.Type, v)
	if err != nil {
		return fmt.Errorf("%s: %w", a.fullKey(k.Key), err)
	}
	m.Set(a.fullKey(k.Key), gv)
	return nil
}

// valueOf converts a config value to the GGUF type a table names.
func valueOf(typ string, v any) (gguf.Value, error) {
	switch typ {
	case "UINT32", "INT32", "UINT64":
		n, ok := intOf(v)
		if !ok {
			return gguf.Value{}, fmt.Errorf("value %v: want an integer", v)
		}
		switch {
		case typ == "UINT32" && (n < 0 || n > math.MaxUint32):
			return gguf.Value{}, fmt.Errorf("value %d out of UINT32 range", n)
		case typ == "INT32" && (n < math.MinInt32 || n > math.MaxInt32):
			return gguf.Value{}, fmt.Errorf("value %d out of INT32 range", n)
		case typ == "UINT64" && n < 0:
			return gguf.Value{}, fmt.Errorf("value %d out of UINT64 range", n)
		}
		switch typ {
		case "UINT32":
			return gguf.Uint32(uint32(n)), nil
		case "INT32":
			return gguf.Int32(int32(n)), nil
		}
		return gguf.Uint64(uint64(n)), nil
	case "FLOAT32":
		f, ok := num(v)
		if !ok {
			return gguf.Value{}, fmt.Errorf("value %v: want a number", v)
		}
		return gguf.Float32(float32(f)), nil
	case "BOOL":
		if b, ok := v.(bool); ok {
			return gguf.Bool(b), nil
		}
		return gguf.Value{}, fmt.Errorf("value %v: want a boolean", v)
	case "STRING":
		if s, ok := v.(string); ok {
			return gguf.String(s), nil
		}
		return gguf.Value{}, fmt.Errorf("value %v: want a string", v)
	}
	return gguf.Value{}, fmt.Errorf("unknown GGUF type %q (want UINT32, INT32, UINT64, FLOAT32, BOOL or STRING)", typ)
}

// includes are built-in key lists with logic too branchy for a table.
var includes = map[string]func(a *Arch, h *hparams, m *gguf.Meta, fileType *uint32) error{
	"text_model":             textModelKeys,
	"rope_scaling":           func(a *Arch, h *hparams, m *gguf.Meta, _ *uint32) error { return ropeScalingKeys(a, h, m) },
	"sliding_window_pattern": slidingWindowPatternKeys,
	"exaone4_sliding_window": exaone4SlidingWindowKeys,
	"longrope_attn_factor":   longropeAttnFactorKeys,
}

// textKeys is the first part of TextModel.set_gguf_parameters: each key
// from the first present config alias, left out when none is.
var textKeys = []Key{
	{Key: "block_count", From: strList{"n_layers", "num_hidden_layers", "n_layer", "num_layers"}, Type: "UINT32"},
	{Key: "context_length", From: strList{"max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"}, Type: "UINT32", Optional: true},
	{Key: "embedding_length", From: strList{"hidden_size", "n_embd", "dim"}, Type: "UINT32", Optional: true},
	{Key: "feed_forward_length", From: strList{"prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim"}, Type: "UINT32", Optional: true},
	{Key: "attention.head_count", From: strList{"num_attention_heads", "n_head", "n_heads"}, Type: "UINT32", Optional: true},
	{Key: "attention.head_count_kv", From: strList{"num_key_value_heads", "n_kv_heads"}, Type: "UINT32", Optional: true},
}

var textKeysAfterRope = []Key{
	{Key: "attention.layer_norm_rms_epsilon", From: strList{"rms_norm_eps", "norm_eps"}, Type: "FLOAT32", Optional: true},
	{Key: "attention.layer_norm_epsilon", From: strList{"layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"}, Type: "FLOAT32", Optional: true},
	{Key: "expert_count", From: strList{"num_local_experts", "num_experts", "n_routed_experts"}, Type: "UINT32", Optional: true},
	{Key: "expert_used_count", From: strList{"num_experts_per_tok", "num_experts_per_token", "top_k_experts"}, Type: "UINT32", Optional: true},
	{Key: "expert_group_count", From: strList{"n_group"}, Type: "UINT32", Optional: true},
	{Key: "expert_group_used_count", From: strList{"topk_group"}, Type: "UINT32", Optional: true},
}

func setAll(a *Arch, h *hparams, m *gguf.Meta, keys []Key) error {
	for _, k := range keys {
		if err := a.setKey(h, m, k, nil); err != nil {
			return err
		}
	}
	return nil
}

func textModelKeys(a *Arch, h *hparams, m *gguf.Meta, fileType *uint32) error {
	if err := setAll(a, h, m, textKeys); err != nil {
		return err
	}
	if v, ok := h.cfg["is_causal"].(bool); ok && !v {
		m.Set(a.fullKey("attention.causal"), gguf.Bool(false))
	}
	if err := ropeScalingKeys(a, h, m); err != nil {
		return err
	}
	if sec, ok := h.ropeAll["mrope_section"].([]any); ok {
		dims := make([]int32, 4)
		for i := 0; i < len(sec) && i < 4; i++ {
			n, ok := intOf(sec[i])
			if !ok {
				return fmt.Errorf("%s: mrope_section[%d] = %v: want an integer", a.fullKey("rope.dimension_sections"), i, sec[i])
			}
			dims[i] = int32(n)
		}
		m.Set(a.fullKey("rope.dimension_sections"), gguf.Int32s(dims))
	}
	if v, ok := h.rope["rope_theta"]; ok && v != nil {
		if err := setValue(a, m, "rope.freq_base", "FLOAT32", v); err != nil {
			return err
		}
	}
	if sw, ok := h.ropeAll["sliding_attention"].(map[string]any); ok && sw["rope_theta"] != nil {
		if err := setValue(a, m, "rope.freq_base_swa", "FLOAT32", sw["rope_theta"]); err != nil {
			return err
		}
	}
	if err := setAll(a, h, m, textKeysAfterRope); err != nil {
		return err
	}
	if v, ok := h.first("score_function", "scoring_func", "score_func", "moe_router_activation", "moe_router_activation_func", "expert_selection_fn"); ok {
		switch v {
		case "softmax":
			m.Set(a.fullKey("expert_gating_func"), gguf.Uint32(1))
		case "sigmoid":
			m.Set(a.fullKey("expert_gating_func"), gguf.Uint32(2))
		case "sqrtsoftplus":
			m.Set(a.fullKey("expert_gating_func"), gguf.Uint32(4))
		default:
			return fmt.Errorf("%s: unsupported expert gating function %v (want softmax, sigmoid or sqrtsoftplus)", a.fullKey("expert_gating_func"), v)
		}
	}
	if v, ok := h.first("head_dim"); ok {
		if err := setValue(a, m, "attention.key_length", "UINT32", v); err != nil {
			return err
		}
		if err := setValue(a, m, "attention.value_length", "UINT32", v); err != nil {
			return err
		}
	}
	if fileType != nil {
		m.Set(keyFileType, gguf.Uint32(*fileType))
	}
	return nil
}

func setValue(a *Arch, m *gguf.Meta, key, typ string, v any) error {
	gv, err := valueOf(typ, v)
	if err != nil {
		return fmt.Errorf("%s: %w", a.fullKey(key), err)
	}
	m.Set(a.fullKey(key), gv)
	return nil
}

// ropeScalingKeys writes the rope scaling keys for linear, YaRN and
// LongRoPE configs; llama3 scaling becomes the rope_freqs tensor instead.
func ropeScalingKeys(a *Arch, h *hparams, m *gguf.Meta) error {
	typ, _ := h.rope["rope_type"].(string)
	factor, hasFactor := h.rope["factor"]
	hasFactor = hasFactor && factor != nil
	set := func(key, t string, v any) error { return setValue(a, m, key, t, v) }
	switch {
	case typ == "linear" && hasFactor:
		m.Set(a.fullKey("rope.scaling.type"), gguf.String("linear"))
		return set("rope.scaling.factor", "FLOAT32", factor)
	case typ == "yarn" && hasFactor:
		m.Set(a.fullKey("rope.scaling.type"), gguf.String("yarn"))
		if err := set("rope.scaling.factor", "FLOAT32", factor); err != nil {
			return err
		}
		orig, ok := h.rope["original_max_position_embeddings"]
		if !ok || orig == nil {
			return fmt.Errorf("%s: yarn rope scaling without rope_parameters.original_max_position_embeddings", a.fullKey("rope.scaling.original_context_length"))
		}
		if err := set("rope.scaling.original_context_length", "UINT32", orig); err != nil {
			return err
		}
		opt := []struct{ key, from, alt string }{
			{"rope.scaling.yarn_ext_factor", "extrapolation_factor", ""},
			{"rope.scaling.yarn_attn_factor", "attention_factor", "attn_factor"},
			{"rope.scaling.yarn_beta_fast", "beta_fast", ""},
			{"rope.scaling.yarn_beta_slow", "beta_slow", ""},
		}
		for _, o := range opt {
			v, ok := h.rope[o.from]
			if (!ok || v == nil) && o.alt != "" {
				v, ok = h.rope[o.alt]
			}
			if ok && v != nil {
				if err := set(o.key, "FLOAT32", v); err != nil {
					return err
				}
			}
		}
	case typ == "su" || typ == "longrope":
		m.Set(a.fullKey("rope.scaling.type"), gguf.String("longrope"))
	}
	return nil
}
