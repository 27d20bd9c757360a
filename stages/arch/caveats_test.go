package arch

import (
	"strings"
	"testing"
)

// TestCaveats: the configs llama.cpp will run differently from transformers
// (conformance/TestArchitectureGapTraces shows each) are told; the usual
// ones are not.
func TestCaveats(t *testing.T) {
	for _, c := range []struct {
		arch string
		cfg  map[string]any
		want string // "" for none
	}{
		{"smollm3", map[string]any{"num_hidden_layers": 2.0, "no_rope_layers": []any{1.0, 0.0}}, "layers [1]"},
		{"smollm3", map[string]any{"num_hidden_layers": 8.0, "no_rope_layers": []any{1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0}}, ""},
		{"smollm3", map[string]any{"num_hidden_layers": 2.0}, ""},
		{"exaone4", map[string]any{"num_hidden_layers": 2.0, "sliding_window": 32.0}, "has 2 layers and sliding_window 32"},
		{"exaone4", map[string]any{"num_hidden_layers": 64.0, "sliding_window": 4096.0}, ""},
		{"exaone4", map[string]any{"num_hidden_layers": 30.0, "sliding_window": nil}, ""},
		{"phimoe", map[string]any{"num_hidden_layers": 2.0}, "sparsemixer"},
		{"bitnet", map[string]any{"num_hidden_layers": 2.0, "hidden_act": "relu2"}, `hidden_act is "relu2"`},
		{"bitnet", map[string]any{"num_hidden_layers": 2.0, "hidden_act": "silu"}, ""},
		{"llama", map[string]any{"num_hidden_layers": 2.0}, ""},
	} {
		got := strings.Join(mustLookup(t, c.arch).Caveats(c.cfg), "\n")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s %v: %q, want %q", c.arch, c.cfg, got, c.want)
		}
	}
}
