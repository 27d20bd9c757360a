package quant

import (
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestEmbeddingTypeYieldsToANamedPerLayerTable follows llama_tensor_get_type:
// --token-embedding-type sets token_embd and per_layer_token_embd, unless a
// --tensor-type pattern matches per_layer_token_embd, which then gets the
// pattern's type; token_embd keeps the embedding type whatever the patterns.
func TestEmbeddingTypeYieldsToANamedPerLayerTable(t *testing.T) {
	ts := []*tensor.Desc{
		{Name: "token_embd.weight", DType: tensor.F16, Shape: []int64{512, 256}},
		{Name: "per_layer_token_embd.weight", DType: tensor.F16, Shape: []int64{512, 256}},
		{Name: "blk.0.attn_q.weight", DType: tensor.F16, Shape: []int64{256, 256}},
	}
	mix, err := ParseMix("Q4_K_M")
	if err != nil {
		t.Fatal(err)
	}
	info := ModelInfo{Arch: "llama", NLayer: 1, NHead: 4, NHeadKV: 4}
	for _, c := range []struct {
		overrides []string
		embd, per tensor.DType
	}{
		{nil, tensor.Q8_0, tensor.Q8_0},
		{[]string{"per_layer=q4_0"}, tensor.Q8_0, tensor.Q4_0},
		{[]string{"token_embd=q5_0"}, tensor.Q8_0, tensor.Q5_0}, // the pattern matches both names; only the per-layer table yields
	} {
		opt := Options{EmbeddingType: tensor.Q8_0}
		for _, o := range c.overrides {
			ov, err := ParseOverride(o)
			if err != nil {
				t.Fatal(err)
			}
			opt.Overrides = append(opt.Overrides, ov)
		}
		types, err := mix.Plan(info, ts, opt)
		if err != nil {
			t.Fatal(err)
		}
		if types[0] != c.embd || types[1] != c.per {
			t.Errorf("overrides %v: token_embd %v, per_layer_token_embd %v; want %v, %v", c.overrides, types[0], types[1], c.embd, c.per)
		}
	}
}
