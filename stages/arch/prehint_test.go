package arch

import "testing"

// TestPreHint: the tables' pre_for names are what llama.cpp's
// convert_hf_to_gguf_update.py lists for each family's own tokenizer
// ("starcoder": bigcode/starcoder2-3b, "command-r":
// CohereForAI/c4ai-command-r-v01), looked up by model type at the top level
// or in text_config; other models get none.
func TestPreHint(t *testing.T) {
	for _, c := range []struct {
		arch string
		cfg  map[string]any
		want string
	}{
		{"starcoder2", map[string]any{"model_type": "starcoder2"}, "starcoder"},
		{"command-r", map[string]any{"model_type": "cohere"}, "command-r"},
		{"command-r", map[string]any{"text_config": map[string]any{"model_type": "cohere"}}, "command-r"},
		{"cohere2", map[string]any{"model_type": "cohere2"}, ""},
		{"llama", map[string]any{"model_type": "llama"}, ""},
	} {
		a, ok := Lookup(c.arch)
		if !ok {
			t.Fatalf("no table %s", c.arch)
		}
		if got := a.PreHint(c.cfg); got != c.want {
			t.Errorf("%s %v: PreHint %q, want %q", c.arch, c.cfg, got, c.want)
		}
	}
}
