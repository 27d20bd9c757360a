package arch

import (
	"fmt"
	"math"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// qwen2vlUnmap writes vision_config in Qwen2-VL's names (embed_dim,
// hidden_size as the merger's output, mlp_ratio, num_heads, depth) and
// joins the split tensors back.
func qwen2vlUnmap(out *VisionHF) error {
	v := out.Vision
	v["embed_dim"], v["hidden_size"] = v["hidden_size"], v["intermediate_size"]
	delete(v, "intermediate_size")
	if err := qwenVisionCommon(out); err != nil {
		return err
	}
	width, _ := intOf(v["embed_dim"])
	for _, d := range out.Tensors {
		if strings.HasSuffix(d.Name, "blocks.0.mlp.fc1.weight") && width > 0 {
			v["mlp_ratio"] = float64(d.Shape[0]) / float64(width)
		}
	}
	return nil
}

// qwen25vlUnmap is qwen2vlUnmap for Qwen2.5-VL: out_hidden_size, and
// fullatt_block_indexes from the window-attention pattern.
func qwen25vlUnmap(out *VisionHF) error {
	v := out.Vision
	if err := qwenVisionCommon(out); err != nil {
		return err
	}
	v["out_hidden_size"] = float64(out.TextHidden)
	p, ok := intOf(v["n_wa_pattern"])
	depth, _ := intOf(v["depth"])
	if !ok || p <= 0 {
		return fmt.Errorf("clip.vision.n_wa_pattern %v: want a positive number", v["n_wa_pattern"])
	}
	delete(v, "n_wa_pattern")
	var idx []any
	for i := p - 1; i < depth; i += p {
		idx = append(idx, float64(i))
	}
	if len(idx) == 0 {
		return fmt.Errorf("clip.vision.n_wa_pattern %d is past the %d blocks", p, depth)
	}
	v["fullatt_block_indexes"] = idx
	return nil
}

// qwenVisionCommon renames the heads and blocks, sets the merge and patch
// sizes the tensors imply, and joins q/k/v and the two frames' kernels.
func qwenVisionCommon(out *VisionHF) error {
	v := out.Vision
	v["num_heads"], v["depth"] = v["num_attention_heads"], v["num_hidden_layers"]
	delete(v, "num_attention_heads")
	delete(v, "num_hidden_layers")
	v["temporal_patch_size"] = float64(2)
	var err error
	if out.Tensors, err = joinQwenTensors(out.Tensors); err != nil {
		return err
	}
	for _, d := range out.Tensors {
		switch {
		case strings.HasSuffix(d.Name, "patch_embed.proj.weight"):
			v["in_chans"] = float64(d.Shape[1])
		case strings.HasSuffix(d.Name, "merger.mlp.0.weight"):
			var width float64
			if w, ok := num(v["embed_dim"]); ok {
				width = w
			} else if w, ok := num(v["hidden_size"]); ok {
				width = w
			}
			if m := math.Sqrt(float64(d.Shape[1]) / width); width > 0 && m == math.Trunc(m) {
				v["spatial_merge_size"] = m
			}
		}
	}
	return nil
}

// joinQwenTensors undoes qwen2vlSplit: attn.q, attn.k, attn.v back into
// attn.qkv (at q's place), the two kernels into one Conv3d weight.
func joinQwenTensors(ts []*tensor.Desc) ([]*tensor.Desc, error) {
	byName := map[string]*tensor.Desc{}
	for _, d := range ts {
		byName[d.Name] = d
	}
	var out []*tensor.Desc
	for _, d := range ts {
		switch {
		case strings.Contains(d.Name, ".attn.q."):
			k, vv := byName[strings.Replace(d.Name, ".attn.q.", ".attn.k.", 1)], byName[strings.Replace(d.Name, ".attn.q.", ".attn.v.", 1)]
			if k == nil || vv == nil {
				return nil, fmt.Errorf("%s has no k and v beside it", d.Name)
			}
			j, err := joinThirds(strings.Replace(d.Name, ".attn.q.", ".attn.qkv.", 1), d, k, vv)
			if err != nil {
				return nil, err
			}
			out = append(out, j)
		case strings.Contains(d.Name, ".attn.k.") || strings.Contains(d.Name, ".attn.v.") || strings.HasSuffix(d.Name, "patch_embed.proj.weight.1"):
		case strings.HasSuffix(d.Name, "patch_embed.proj.weight"):
			f1 := byName[d.Name+".1"]
			if f1 == nil || f1.DType != d.DType || fmt.Sprint(f1.Shape) != fmt.Sprint(d.Shape) || len(d.Shape) != 4 {
				return nil, fmt.Errorf("%s %v needs a second frame's kernel of the same shape and type (v.patch_embd.weight.1)", d.Name, d.Shape)
			}
			kh, half := d.Shape[2], d.Rows()
			j := d.Clone()
			j.Shape = []int64{d.Shape[0], d.Shape[1], 2, kh, d.Shape[3]}
			both := &concat{srcs: []tensor.Source{d.Src, f1.Src}, rowsEach: half, rowBytes: d.RowBytes(), what: "two frames"}
			j.Src = &rowMap{src: both, rowBytes: d.RowBytes(), what: "Conv3d of two frames",
				mapRow: func(r int64) int64 { return (r/kh)%2*half + r/(2*kh)*kh + r%kh }}
			out = append(out, j)
		default:
			out = append(out, d)
		}
	}
	return out, nil
}

// joinThirds stacks q, k and v rows (or bias elements) into one tensor.
func joinThirds(name string, q, k, v *tensor.Desc) (*tensor.Desc, error) {
	for _, d := range []*tensor.Desc{k, v} {
		if d.DType != q.DType || fmt.Sprint(d.Shape) != fmt.Sprint(q.Shape) {
			return nil, fmt.Errorf("joining %s: %s is %v %v but %s is %v %v", name, d.Name, d.DType, d.Shape, q.Name, q.DType, q.Shape)
		}
	}
	out := q.Clone()
	out.Name = name
	out.Shape[0] *= 3
	if len(q.Shape) == 2 {
		out.Src = &concat{srcs: []tensor.Source{q.Src, k.Src, v.Src}, rowsEach: q.Rows(), rowBytes: q.RowBytes(), what: "q, k, v"}
		return out, nil
	}
	parts := []*tensor.Desc{q.Clone(), k.Clone(), v.Clone()}
	out.Src = &whole{rowBytes: 3 * q.RowBytes(), what: "q, k, v biases", compute: func() ([]byte, error) {
		var b []byte
		for _, p := range parts {
			x, err := tensor.ReadAll(p)
			if err != nil {
				return nil, err
			}
			b = append(b, x...)
		}
		return b, nil
	}}
	return out, nil
}
