package arch

import (
	"slices"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestInternVLQKVSplitAndJoin: the converter's qkv split (q = rows [0, c),
// k = [c, 2c), v = [2c, 3c) of the weight, and the same element ranges of
// the bias, conversion/internvl.py) and the unmap's join give the fused
// tensor back value for value.
func TestInternVLQKVSplitAndJoin(t *testing.T) {
	v := visionBuiltin["internvl"]
	cfg := map[string]any{"vision_config": map[string]any{"hidden_size": 4.0, "num_hidden_layers": 1.0, "layer_norm_eps": 1e-6,
		"hidden_act": "gelu", "num_attention_heads": 2.0}, "llm_config": map[string]any{"hidden_size": 8.0}, "downsample_ratio": 0.5}
	vcfg, err := v.Config(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, b := mk("vision_model.encoder.layers.0.attn.qkv.weight", 0, 12, 4), mk("vision_model.encoder.layers.0.attn.qkv.bias", 100, 12)
	out, err := v.Remap(vcfg, []*tensor.Desc{w, b})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range out {
		names = append(names, d.Name)
	}
	want := []string{"v.blk.0.attn_q.weight", "v.blk.0.attn_k.weight", "v.blk.0.attn_v.weight", "v.blk.0.attn_q.bias", "v.blk.0.attn_k.bias", "v.blk.0.attn_v.bias"}
	if !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	m := byName(out)
	if got := floats(t, m["v.blk.0.attn_k.weight"]); got[0] != 16 || len(got) != 16 {
		t.Errorf("attn_k.weight starts %v (%d values), want row 4 of qkv (16)", got[0], len(got))
	}
	if got := floats(t, m["v.blk.0.attn_v.bias"]); !slices.Equal(got, []float32{108, 109, 110, 111}) {
		t.Errorf("attn_v.bias %v, want elements 8..11 of the bias", got)
	}
	sj := newSplitJoiner(v.Arch)
	var back []*tensor.Desc
	for _, d := range out {
		j, ok, err := sj.add(d)
		if !ok || err != nil {
			t.Fatalf("%s: ok %v, %v", d.Name, ok, err)
		}
		if j != nil {
			back = append(back, j)
		}
	}
	if len(back) != 2 || len(sj.leftover()) != 0 {
		t.Fatalf("joined %d tensors, leftover %v", len(back), sj.leftover())
	}
	for i, orig := range []*tensor.Desc{w, b} {
		if back[i].Name != orig.Name || !slices.Equal(back[i].Shape, orig.Shape) || !slices.Equal(floats(t, back[i]), floats(t, orig)) {
			t.Errorf("joined %s %v differs from %s %v", back[i].Name, back[i].Shape, orig.Name, orig.Shape)
		}
	}
	// a block without its v part, and a part twice, are errors that say so
	sj = newSplitJoiner(v.Arch)
	for _, n := range []string{"v.blk.0.attn_q.weight", "v.blk.0.attn_k.weight"} {
		if _, _, err := sj.add(m[n]); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := sj.add(m["v.blk.0.attn_k.weight"]); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("a part twice: %v", err)
	}
	if l := sj.leftover(); len(l) != 1 || !strings.Contains(l[0], "vision_model.encoder.layers.0.attn.qkv.weight: part 2 of its split is missing") {
		t.Errorf("leftover %v", l)
	}
}

// TestVisionKeyRefusals: what the converter raises on, the header refuses,
// naming the key and the config value: an activation other than silu or
// gelu (pixtral, InternVL), an InternVL config without downsample_ratio.
func TestVisionKeyRefusals(t *testing.T) {
	v := visionBuiltin["internvl"]
	for _, c := range []struct {
		edit func(cfg map[string]any)
		want string
	}{
		{func(cfg map[string]any) { cfg["vision_config"].(map[string]any)["hidden_act"] = "relu" }, "clip.use_silu: vision_config.hidden_act is relu"},
		{func(cfg map[string]any) { delete(cfg, "downsample_ratio") }, "clip.vision.projector.scale_factor: config.json downsample_ratio is <nil>"},
	} {
		cfg := map[string]any{"vision_config": map[string]any{"hidden_size": 4.0, "num_hidden_layers": 1.0, "layer_norm_eps": 1e-6,
			"hidden_act": "gelu", "num_attention_heads": 2.0, "image_size": []any{32.0, 32.0}, "patch_size": 8.0, "intermediate_size": 8.0},
			"llm_config": map[string]any{"hidden_size": 8.0}, "downsample_ratio": 0.5}
		c.edit(cfg)
		vcfg, err := v.Config(cfg, map[string]any{"image_mean": []any{0.5}, "image_std": []any{0.5}})
		if err != nil {
			t.Fatal(err)
		}
		if vcfg["image_size"] != 32.0 {
			t.Errorf("image_size %v, want the first of [32, 32]", vcfg["image_size"])
		}
		_, err = v.Header(vcfg, []*tensor.Desc{mk("v.blk.0.ln1.weight", 0, 4)}, HeaderOptions{Dir: "m", OutType: tensor.F16})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Header: %v, want %q", err, c.want)
		}
	}
}
