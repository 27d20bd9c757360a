package arch

import "testing"

// TestRopeMirrorsTopLevel: as the converter's TextModel, top-level
// partial_rotary_factor (or rope_pct) and original_max_position_embeddings
// count as rope parameters when rope_parameters lacks them (transformers
// 5.17 saves Phi-3.5-MoE with a default rope_parameters and the original
// context length beside it).
func TestRopeMirrorsTopLevel(t *testing.T) {
	cfg := map[string]any{"model_type": "phimoe", "num_hidden_layers": 2.0, "hidden_size": 64.0, "num_attention_heads": 4.0,
		"num_key_value_heads": 2.0, "intermediate_size": 32.0, "max_position_embeddings": 1024.0, "rms_norm_eps": 1e-5,
		"num_local_experts": 4.0, "num_experts_per_tok": 2.0, "sliding_window": 512.0, "original_max_position_embeddings": 256.0,
		"partial_rotary_factor": 0.5, "rope_parameters": map[string]any{"rope_theta": 10000.0, "rope_type": "default"}}
	m, err := mustLookup(t, "phimoe").HParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]uint64{"phimoe.rope.scaling.original_context_length": 256, "phimoe.rope.dimension_count": 8} {
		if got, ok := m.Uint(key); !ok || got != want {
			t.Errorf("%s = %d (present %v), want %d", key, got, ok, want)
		}
	}
}
