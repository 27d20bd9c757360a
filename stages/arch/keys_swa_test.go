package arch

import (
	"fmt"
	"testing"
)

// TestSWAPatternBeyondConverter: the layers' pattern is written only where
// llama.cpp's default for the architecture (every 6th layer global for
// Gemma 3, every 4th for Command-R 2) would run the config's layers wrong.
// conformance/TestArchitecturesFromTransformers shows the effect on
// transformers-written models.
func TestSWAPatternBeyondConverter(t *testing.T) {
	st, fu := "sliding_attention", "full_attention"
	gemma := func(extra ...any) map[string]any {
		c := map[string]any{"model_type": "gemma3_text", "num_hidden_layers": 6.0, "sliding_window": 512.0}
		for i := 0; i < len(extra); i += 2 {
			c[extra[i].(string)] = extra[i+1]
		}
		return c
	}
	cohere := map[string]any{"model_type": "cohere2", "num_hidden_layers": 4.0, "num_attention_heads": 4.0,
		"hidden_size": 64.0, "vocab_size": 512.0, "rotary_pct": 1.0, "logit_scale": 0.25, "sliding_window": 32.0,
		"layer_types": []any{st, fu, st, fu}}
	for _, c := range []struct {
		arch string
		cfg  map[string]any
		want string // "" when no pattern is written
	}{
		{"gemma3", gemma("layer_types", []any{st, st, st, st, st, fu}), ""},
		{"gemma3", gemma("sliding_window_pattern", 6.0), ""},
		{"gemma3", gemma(), ""},
		{"gemma3", gemma("layer_types", []any{st, fu, st, fu, st, fu}), "[true false true false true false]"},
		{"gemma3", gemma("sliding_window_pattern", 3.0), "[true true false true true false]"},
		{"gemma3", gemma("sliding_window_pattern", 1.0, "layer_types", []any{fu, fu, fu, fu, fu, fu}), ""}, // no window written
		{"cohere2", cohere, "[true false true false]"},
	} {
		m, err := mustLookup(t, c.arch).HParams(c.cfg)
		if err != nil {
			t.Fatalf("%s %v: %v", c.arch, c.cfg, err)
		}
		got := ""
		if v, ok := m.Get(c.arch + ".attention.sliding_window_pattern"); ok {
			got = fmt.Sprint(v.V)
		}
		if got != c.want {
			t.Errorf("%s %v: pattern %q, want %q", c.arch, c.cfg, got, c.want)
		}
	}
	bad := gemma("layer_types", []any{st, 3.0, st, st, st, fu})
	if _, err := mustLookup(t, "gemma3").HParams(bad); err == nil {
		t.Error("layer_types with a number: no error")
	}
}
