package arch

import (
	"fmt"
)

// caveats are llama.cpp's own departures from a model's function that no
// GGUF key can undo (each traced in testdata/arch-hf/README.md and shown by
// conformance/TestArchitectureGapTraces): the conversion is right, llama.cpp
// will still not compute what transformers does. Keyed by GGUF
// architecture; each returns "" when the config is not affected.
var caveats = map[string]func(h *hparams) string{
	"smollm3": smolLM3NoRope,
	"exaone4": exaone4Window,
	"bitnet":  bitnetActivation,
	"phimoe": func(*hparams) string {
		return "llama.cpp runs Phi-3.5-MoE with RMS norms where it has LayerNorms, and a renormalized softmax top-2 " +
			"where transformers' sparsemixer weighs the chosen experts: its logits will differ from transformers'"
	},
}

// Caveats returns what llama.cpp will compute differently from transformers
// for this config, for the user to hear at plan time.
func (a *Arch) Caveats(cfg map[string]any) []string {
	f := caveats[a.Arch]
	if f == nil {
		return nil
	}
	if s := f(a.hparamsOf(cfg)); s != "" {
		return []string{s}
	}
	return nil
}

// smolLM3NoRope: llama.cpp drops rope on every fourth layer, hard-coded
// (n_no_rope_layer_step); transformers follows no_rope_layers (1: rope).
func smolLM3NoRope(h *hparams) string {
	l, ok := h.cfg["no_rope_layers"].([]any)
	if !ok {
		return ""
	}
	var differ []int
	for i, v := range l {
		rope, _ := num(v)
		if (rope != 0) != ((i+1)%4 != 0) {
			differ = append(differ, i)
		}
	}
	if len(differ) == 0 {
		return ""
	}
	return fmt.Sprintf("no_rope_layers differ from llama.cpp's smollm3, which drops rope on every fourth layer and no "+
		"other (no GGUF key says otherwise): layers %v will run with the other choice", differ)
}

// exaone4Window: llama.cpp's exaone4 uses the sliding window, and drops rope
// on the global layers, only for 64-layer models.
func exaone4Window(h *hparams) string {
	if h.cfg["sliding_window"] == nil {
		return ""
	}
	n, err := h.intParam("n_layer")
	if err != nil || n == 64 {
		return ""
	}
	return fmt.Sprintf("llama.cpp's exaone4 uses the sliding window (and no rope on global layers) only for 64-layer "+
		"models; this one has %d layers and sliding_window %v: llama.cpp will attend over everything with rope on every layer", n, h.cfg["sliding_window"])
}

// bitnetActivation: llama.cpp's bitnet graph applies SiLU whatever
// hidden_act says; microsoft's BitNet b1.58 2B4T uses relu2.
func bitnetActivation(h *hparams) string {
	act, ok := h.cfg["hidden_act"].(string)
	if !ok || act == "silu" {
		return ""
	}
	return fmt.Sprintf("hidden_act is %q; llama.cpp's bitnet applies SiLU whatever the config says (no GGUF key "+
		"selects the activation): its logits will differ from transformers'", act)
}
