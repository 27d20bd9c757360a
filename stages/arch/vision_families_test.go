package arch

import (
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestQwen2VLSplitAndJoin: the Conv3d kernel's frames and the fused QKV
// rows land where modify_tensors' slices put them (data[:, :, t] and
// thirds of the rows; values are their flat index), and the join puts
// every value back.
func TestQwen2VLSplitAndJoin(t *testing.T) {
	patch := mk("visual.patch_embed.proj.weight", 0, 2, 3, 2, 4, 5) // [out, in, t, kh, kw]
	qkv := mk("visual.blocks.0.attn.qkv.weight", 0, 6, 4)
	bias := mk("visual.blocks.0.attn.qkv.bias", 0, 6)
	split, err := qwen2vlSplit([]*tensor.Desc{bias, patch, qkv})
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "names", names(split), []string{"visual.blocks.0.attn.q.bias", "visual.blocks.0.attn.k.bias", "visual.blocks.0.attn.v.bias",
		"visual.patch_embed.proj.weight", "visual.patch_embed.proj.weight.1",
		"visual.blocks.0.attn.q.weight", "visual.blocks.0.attn.k.weight", "visual.blocks.0.attn.v.weight"})
	m := byName(split)
	for f, name := range []string{"visual.patch_embed.proj.weight", "visual.patch_embed.proj.weight.1"} {
		var want []float32
		for o := 0; o < 2*3; o++ { // (out, in)
			for h := 0; h < 4; h++ {
				for w := 0; w < 5; w++ {
					want = append(want, float32(((o*2+f)*4+h)*5+w))
				}
			}
		}
		eqFloats(t, name, floats(t, m[name]), want)
	}
	eqFloats(t, "k bias", floats(t, m["visual.blocks.0.attn.k.bias"]), []float32{2, 3})
	eqFloats(t, "v weight", floats(t, m["visual.blocks.0.attn.v.weight"]), []float32{16, 17, 18, 19, 20, 21, 22, 23})
	joined, err := joinQwenTensors(split)
	if err != nil {
		t.Fatal(err)
	}
	eqStrings(t, "joined", names(joined), []string{"visual.blocks.0.attn.qkv.bias", "visual.patch_embed.proj.weight", "visual.blocks.0.attn.qkv.weight"})
	for _, d := range []*tensor.Desc{bias, patch, qkv} {
		j := byName(joined)[d.Name]
		if j == nil || len(j.Shape) != len(d.Shape) {
			t.Fatalf("%s joined as %v", d.Name, j)
		}
		eqFloats(t, d.Name, floats(t, j), floats(t, d))
	}
}

// TestVisionFamilyErrors: what the converter refuses (asserts, a window
// pattern llama.cpp cannot express) is refused with the key or tensor named.
func TestVisionFamilyErrors(t *testing.T) {
	for _, c := range []struct {
		what string
		err  error
		want string
	}{
		{"fullatt irregular", qwen25vlConfig(map[string]any{"num_heads": 2.0, "depth": 8.0, "fullatt_block_indexes": []any{1.0, 3.0, 6.0}}),
			"fullatt_block_indexes [1 3 6]: not one block in every 2"},
		{"fullatt missing", qwen25vlConfig(map[string]any{"num_heads": 2.0, "depth": 8.0}), "vision_config.fullatt_block_indexes: want a list"},
		{"no num_heads", qwen2vlConfig(map[string]any{"depth": 8.0}), "vision_config has no num_heads"},
		{"seq length", gemma3Config(map[string]any{"image_size": 56.0, "patch_size": 14.0, "preprocessor.image_seq_length": 0.0}), "image_seq_length 0: want positive"},
		{"Conv2d patch", errOf(qwen2vlSplit([]*tensor.Desc{mk("visual.patch_embed.proj.weight", 0, 2, 3, 4, 5)})),
			"visual.patch_embed.proj.weight: shape [2 3 4 5], want [out, in, 2, kh, kw]"},
		{"qkv rows", errOf(qwen2vlSplit([]*tensor.Desc{mk("visual.blocks.0.attn.qkv.weight", 0, 7, 4)})),
			"visual.blocks.0.attn.qkv.weight: shape [7 4], want 3 x n rows"},
		{"second frame", errOf(joinQwenTensors([]*tensor.Desc{mk("visual.patch_embed.proj.weight", 0, 2, 3, 4, 5)})),
			"needs a second frame's kernel"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.what, c.err, c.want)
		}
	}
}

func errOf(_ []*tensor.Desc, err error) error { return err }

// TestGemma3ScaleFactor: proj_scale_factor is written only when it is not
// 4 (Gemma3VisionModel.set_gguf_parameters), and the unmap's
// image_seq_length gives the same factor back.
func TestGemma3ScaleFactor(t *testing.T) {
	for _, c := range []struct {
		img, patch, seq float64
		want            any
	}{{896, 14, 256, nil}, {56, 14, 4, int64(2)}, {56, 14, 1, nil}, {28, 14, 0, nil}, {224, 14, 16, nil}, {224, 14, 4, int64(8)}} {
		v := map[string]any{"image_size": c.img, "patch_size": c.patch, "preprocessor.image_seq_length": c.seq}
		if c.seq == 0 { // absent: the converter's default 256, more tokens than 28 px have patches
			delete(v, "preprocessor.image_seq_length")
		}
		if err := gemma3Config(v); err != nil {
			t.Fatal(err)
		}
		if v["proj_scale_factor"] != c.want {
			t.Errorf("%v px / %v, %v tokens: proj_scale_factor %v, want %v", c.img, c.patch, c.seq, v["proj_scale_factor"], c.want)
		}
		out := &VisionHF{Vision: map[string]any{"image_size": c.img, "patch_size": c.patch}, Top: map[string]any{}, Preprocessor: map[string]any{}}
		if c.want != nil {
			out.Vision["proj_scale_factor"] = c.want
		}
		if err := gemma3Unmap(out); err != nil {
			t.Fatal(err)
		}
		back := map[string]any{"image_size": c.img, "patch_size": c.patch}
		if s, ok := out.Preprocessor["image_seq_length"]; ok {
			back["preprocessor.image_seq_length"] = s
		}
		if err := gemma3Config(back); err != nil || back["proj_scale_factor"] != c.want {
			t.Errorf("%v px / %v: after unmap proj_scale_factor %v (%v), want %v", c.img, c.patch, back["proj_scale_factor"], err, c.want)
		}
	}
}

// TestVisionFamilyOutTypes: Gemma3VisionModel.tensor_force_quant keeps the
// input projection F16 at every output type; Qwen2-VL's second frame kernel
// (".weight.1") takes the patch embedding's rule, F16 only in F16 files.
func TestVisionFamilyOutTypes(t *testing.T) {
	gemma, qwen := visionBuiltin["gemma3"], visionBuiltin["qwen2vl_merger"]
	for _, c := range []struct {
		v     *Vision
		name  string
		shape []int64
		req   tensor.DType
		want  tensor.DType
	}{
		{gemma, "mm.input_projection.weight", []int64{64, 32}, tensor.F32, tensor.F16},
		{gemma, "mm.input_projection.weight", []int64{64, 32}, tensor.Q8_0, tensor.F16},
		{gemma, "mm.soft_emb_norm.weight", []int64{32}, tensor.F16, tensor.F32},
		{gemma, "v.patch_embd.weight", []int64{32, 3, 14, 14}, tensor.F16, tensor.F32},
		{qwen, "v.patch_embd.weight.1", []int64{32, 3, 14, 14}, tensor.F16, tensor.F16},
		{qwen, "v.patch_embd.weight.1", []int64{32, 3, 14, 14}, tensor.Q8_0, tensor.F32},
		{qwen, "mm.0.weight", []int64{128, 128}, tensor.Q8_0, tensor.Q8_0},
	} {
		if got := c.v.OutType(c.name, c.shape, c.req); got != c.want {
			t.Errorf("%s %s %v at %v: %v, want %v", c.v.Projector, c.name, c.shape, c.req, got, c.want)
		}
	}
}
