package arch

import (
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// slidingWindowPatternKeys writes OLMo 3's sliding window and which layers
// use it, as Olmo2Model.set_gguf_parameters: only when the config has
// sliding_window; the pattern from layer_types, else every layer but each
// fourth (the transformers default).
func slidingWindowPatternKeys(a *Arch, h *hparams, m *gguf.Meta, _ *uint32) error {
	sw, ok := h.cfg["sliding_window"]
	if !ok {
		return nil
	}
	if err := setValue(a, m, "attention.sliding_window", "UINT32", sw); err != nil {
		return err
	}
	pattern, ok, err := layerTypesPattern(a, h)
	if err != nil {
		return err
	}
	if !ok {
		n, err := h.intParam("n_layer")
		if err != nil {
			return fmt.Errorf("%s: %w", a.fullKey("attention.sliding_window_pattern"), err)
		}
		for i := int64(0); i < n; i++ {
			pattern = append(pattern, (i+1)%4 != 0)
		}
	}
	setPattern(a, m, pattern)
	return nil
}

// exaone4SlidingWindowKeys is Exaone4Model.set_gguf_parameters' window: only
// for a non-null sliding_window; the pattern from layer_types, else from
// sliding_window_pattern, a string of L (local) and G (global) repeated over
// the layers or a period (every n-th layer global); none when neither.
func exaone4SlidingWindowKeys(a *Arch, h *hparams, m *gguf.Meta, _ *uint32) error {
	sw := h.cfg["sliding_window"]
	if sw == nil {
		return nil
	}
	if err := setValue(a, m, "attention.sliding_window", "UINT32", sw); err != nil {
		return err
	}
	pattern, ok, err := layerTypesPattern(a, h)
	if err != nil || ok {
		if ok {
			setPattern(a, m, pattern)
		}
		return err
	}
	swp, ok := h.cfg["sliding_window_pattern"]
	if !ok {
		return nil
	}
	n, err := h.intParam("n_layer")
	if err != nil {
		return fmt.Errorf("%s: %w", a.fullKey("attention.sliding_window_pattern"), err)
	}
	switch p := swp.(type) {
	case string:
		if p == "" {
			return nil
		}
		for i := int64(0); i < n; i++ {
			pattern = append(pattern, p[i%int64(len(p))] == 'L')
		}
	default:
		period, isInt := intOf(p)
		if !isInt || period == 0 {
			return nil
		}
		for i := int64(0); i < n; i++ {
			pattern = append(pattern, (i+1)%period != 0)
		}
	}
	setPattern(a, m, pattern)
	return nil
}

// layerTypesPattern reads layer_types as one bool per layer, true for
// sliding attention; ok is false when the config has no layer_types.
func layerTypesPattern(a *Arch, h *hparams) (pattern []bool, ok bool, err error) {
	lt, ok := h.cfg["layer_types"].([]any)
	if !ok {
		return nil, false, nil
	}
	for i, t := range lt {
		s, isStr := t.(string)
		if !isStr {
			return nil, true, fmt.Errorf("%s: layer_types[%d] = %v: want a string", a.fullKey("attention.sliding_window_pattern"), i, t)
		}
		pattern = append(pattern, s == "sliding_attention")
	}
	return pattern, true, nil
}

func setPattern(a *Arch, m *gguf.Meta, pattern []bool) {
	m.Set(a.fullKey("attention.sliding_window_pattern"), gguf.Value{Type: gguf.TypeArray, Elem: gguf.TypeBool, V: pattern})
}

// swaBeyondConverter writes which layers slide where llama.cpp would
// otherwise guess wrong: for a table with llama_swa_period, a sliding window
// written and no pattern written, when the config's layers (layer_types, or
// a sliding_window_pattern period as transformers reads it) differ from
// llama.cpp's default of every period-th layer global. llama.cpp reads the
// array first (load_swa_pattern), so the file then runs as transformers
// does; checkpoints with the usual pattern stay byte-identical to the
// converter's, which never writes it.
func (a *Arch) swaBeyondConverter(h *hparams, m *gguf.Meta) error {
	p := int64(a.LlamaSWAPeriod)
	key := a.fullKey("attention.sliding_window_pattern")
	_, window := m.Get(a.fullKey("attention.sliding_window"))
	_, written := m.Get(key)
	if p <= 0 || !window || written {
		return nil
	}
	pattern, ok, err := layerTypesPattern(a, h)
	if err != nil {
		return err
	}
	if !ok {
		period, isInt := intOf(h.cfg["sliding_window_pattern"])
		if !isInt || period <= 0 {
			return nil
		}
		n, err := h.intParam("n_layer")
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		for i := int64(0); i < n; i++ {
			pattern = append(pattern, (i+1)%period != 0)
		}
	}
	for i, swa := range pattern {
		if swa != (int64(i)%p < p-1) {
			setPattern(a, m, pattern)
			return nil
		}
	}
	return nil
}
