package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// hparams is a config as the converter sees it: text_config (and its
// renamed variants) lifted to the top level, rope parameters normalized, and
// the table's named params resolved on demand.
type hparams struct {
	cfg       map[string]any
	rope      map[string]any // the rope parameters of full attention
	ropeAll   map[string]any
	params    map[string]Param
	cache     map[string]any
	resolving map[string]bool
	dir       string // the model folder, for sentencepiece_keys read from its tokenizer files
}

// errUnresolved says a param or config key is absent; optional keys and
// params with defaults turn it into "leave out" or "use the default".
type errUnresolved struct{ names []string }

func (e *errUnresolved) Error() string {
	return fmt.Sprintf("config has none of %s", strings.Join(e.names, ", "))
}

func isUnresolved(err error) bool {
	var u *errUnresolved
	return errors.As(err, &u)
}

// textConfigKeys are the nested configs the converter lifts into text_config.
var textConfigKeys = []string{"llm_config", "lm_config", "language_config", "lfm"}

// flatten merges text_config over the top level, as TextModel.__init__ does.
func flatten(cfg map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range cfg {
		out[k] = v
	}
	for _, k := range textConfigKeys {
		if v, ok := cfg[k].(map[string]any); ok {
			out["text_config"] = v
		}
	}
	if tc, ok := out["text_config"].(map[string]any); ok {
		for k, v := range tc {
			out[k] = v
		}
	}
	return out
}

// hparamsOf resolves the table's params over cfg (text_config merged in),
// less the keys the table drops.
func (a *Arch) hparamsOf(cfg map[string]any) *hparams {
	h := newHParams(cfg, a.Params)
	for _, k := range a.DropConfig {
		delete(h.cfg, k)
	}
	return h
}

func newHParams(cfg map[string]any, params map[string]Param) *hparams {
	h := &hparams{cfg: flatten(cfg), params: params, cache: map[string]any{}, resolving: map[string]bool{}}
	rp, _ := h.cfg["rope_parameters"].(map[string]any)
	if rp == nil {
		rp, _ = h.cfg["rope_scaling"].(map[string]any)
	}
	all := map[string]any{}
	for k, v := range rp {
		all[k] = v
	}
	_, full := all["full_attention"]
	_, sliding := all["sliding_attention"]
	if !full && !sliding {
		if v, ok := h.first("local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq"); ok {
			all["sliding_attention"] = map[string]any{"rope_theta": v}
		}
		if _, ok := all["rope_theta"]; !ok {
			if v, ok := h.first("global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base"); ok {
				all["rope_theta"] = v
			}
		}
		if _, ok := all["rope_type"]; !ok {
			if v, ok := all["type"]; ok && v != nil {
				all["rope_type"] = v
			}
		}
		// the converter mirrors these top-level spellings too (transformers
		// 5 writes Phi-3.5-MoE's original_max_position_embeddings beside a
		// default rope_parameters)
		if _, ok := all["partial_rotary_factor"]; !ok {
			if v, ok := h.first("partial_rotary_factor", "rope_pct", "rope_percent"); ok {
				all["partial_rotary_factor"] = v
			}
		}
		if _, ok := all["original_max_position_embeddings"]; !ok {
			if v, ok := h.first("original_max_position_embeddings"); ok {
				all["original_max_position_embeddings"] = v
			}
		}
	}
	h.ropeAll = all
	h.rope = all
	if f, ok := all["full_attention"].(map[string]any); ok {
		h.rope = f
	}
	return h
}

// first returns the value of the first present, non-null config key.
func (h *hparams) first(keys ...string) (any, bool) {
	for _, k := range keys {
		if v, ok := h.cfg[k]; ok && v != nil {
			return v, true
		}
	}
	return nil, false
}

// get resolves a named param, a rope parameter ("rope.factor") or a config key.
func (h *hparams) get(name string) (any, error) {
	if p, ok := h.params[name]; ok {
		return h.param(name, p)
	}
	if r, ok := strings.CutPrefix(name, "rope."); ok {
		if v, ok := h.rope[r]; ok && v != nil {
			return v, nil
		}
		return nil, &errUnresolved{[]string{"rope_parameters." + r}}
	}
	if v, ok := h.first(name); ok {
		return v, nil
	}
	return nil, &errUnresolved{[]string{name}}
}

func (h *hparams) param(name string, p Param) (any, error) {
	if v, ok := h.cache[name]; ok {
		return v, nil
	}
	if h.resolving[name] {
		return nil, fmt.Errorf("param %s refers to itself", name)
	}
	h.resolving[name] = true
	defer delete(h.resolving, name)
	v, err := h.resolve(p.From, p.Expr, p.Default)
	if err != nil {
		return nil, err
	}
	h.cache[name] = v
	return v, nil
}

// resolve implements the From / Expr / Default chain shared by params and keys.
func (h *hparams) resolve(from []string, expr string, def any) (any, error) {
	tried := append([]string(nil), from...)
	if v, ok := h.first(from...); ok {
		return v, nil
	}
	if expr != "" {
		v, err := h.eval(expr)
		if err == nil {
			return v, nil
		}
		if !isUnresolved(err) {
			return nil, err
		}
		var u *errUnresolved
		errors.As(err, &u)
		tried = append(tried, u.names...)
	}
	if def != nil {
		return def, nil
	}
	return nil, &errUnresolved{tried}
}

// num converts a JSON or YAML number to float64.
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// intOf reads an integral number; fractional or non-numeric values fail.
func intOf(v any) (int64, bool) {
	f, ok := num(v)
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// intParam resolves a param that must be a positive integer.
func (h *hparams) intParam(name string) (int64, error) {
	v, err := h.get(name)
	if err != nil {
		return 0, err
	}
	n, ok := intOf(v)
	if !ok || n <= 0 {
		return 0, fmt.Errorf("%s = %v: want a positive integer", name, v)
	}
	return n, nil
}
