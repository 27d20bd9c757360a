package arch

import (
	"fmt"
	"math"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// longropeAttnFactorKeys writes rope.scaling.attn_factor for Phi-3's
// LongRoPE (and YaRN) long-context configs, as the converter does beside the
// rope_factors tensors: sqrt(1 + ln(s) / ln(original context)) for
// longrope/su, 0.1 ln(s) + 1 for yarn, with s = context length / original
// context length, 1 when s <= 1; nothing without long_factor.
func longropeAttnFactorKeys(a *Arch, h *hparams, m *gguf.Meta, _ *uint32) error {
	if long, _ := h.rope["long_factor"].([]any); len(long) == 0 {
		return nil
	}
	key := a.fullKey("rope.scaling.attn_factor")
	ctxLen, ok := h.first("n_positions", "max_position_embeddings")
	orig, ok2 := h.rope["original_max_position_embeddings"]
	if !ok2 || orig == nil {
		orig, ok2 = h.first("original_max_position_embeddings")
	}
	c, ok3 := num(ctxLen)
	o, ok4 := num(orig)
	if !ok || !ok2 || !ok3 || !ok4 || o <= 0 {
		return fmt.Errorf("%s: want max_position_embeddings and rope_parameters.original_max_position_embeddings, have %v and %v", key, ctxLen, orig)
	}
	scale, f := c/o, 1.0
	typ, _ := h.rope["rope_type"].(string)
	switch strings.ToLower(typ) {
	case "su", "longrope":
		if scale > 1 {
			f = math.Sqrt(1 + math.Log(scale)/math.Log(o))
		}
	case "yarn":
		if scale > 1 {
			f = 0.1*math.Log(scale) + 1
		}
	default:
		return fmt.Errorf("%s: rope type %q with long factors is not supported (longrope, su, yarn)", key, typ)
	}
	m.Set(key, gguf.Float32(float32(f)))
	return nil
}
