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
	var pattern []bool
	if lt, ok := h.cfg["layer_types"].([]any); ok {
		for i, t := range lt {
			s, ok := t.(string)
			if !ok {
				return fmt.Errorf("%s: layer_types[%d] = %v: want a string", a.fullKey("attention.sliding_window_pattern"), i, t)
			}
			pattern = append(pattern, s == "sliding_attention")
		}
	} else {
		n, err := h.intParam("n_layer")
		if err != nil {
			return fmt.Errorf("%s: %w", a.fullKey("attention.sliding_window_pattern"), err)
		}
		for i := int64(0); i < n; i++ {
			pattern = append(pattern, (i+1)%4 != 0)
		}
	}
	m.Set(a.fullKey("attention.sliding_window_pattern"), gguf.Value{Type: gguf.TypeArray, Elem: gguf.TypeBool, V: pattern})
	return nil
}
