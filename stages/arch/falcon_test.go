package arch

import "testing"

// TestFalconKVHeads: transformers' FalconAttention uses one KV head for the
// old multi-query layout whatever num_kv_heads says; transformers 5 saves
// num_kv_heads = num_attention_heads there (its default), on which the
// converter stops. The new layout and configs without the flags keep what
// the config says.
func TestFalconKVHeads(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]any
		want uint64
	}{
		{map[string]any{"num_kv_heads": 4.0, "multi_query": true, "new_decoder_architecture": false}, 1},
		{map[string]any{"multi_query": true}, 1},
		{map[string]any{"num_kv_heads": 2.0, "multi_query": true, "new_decoder_architecture": true}, 2},
		{map[string]any{"n_head_kv": 2.0}, 2},
		{map[string]any{"num_kv_heads": 4.0, "multi_query": false}, 4},
	} {
		cfg := map[string]any{"num_hidden_layers": 2.0, "num_attention_heads": 4.0, "hidden_size": 64.0, "layer_norm_epsilon": 1e-5}
		for k, v := range c.cfg {
			cfg[k] = v
		}
		m, err := mustLookup(t, "falcon").HParams(cfg)
		if err != nil {
			t.Fatalf("%v: %v", c.cfg, err)
		}
		if got, _ := m.Uint("falcon.attention.head_count_kv"); got != c.want {
			t.Errorf("%v: head_count_kv %d, want %d", c.cfg, got, c.want)
		}
	}
}
