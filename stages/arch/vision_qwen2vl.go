package arch

import (
	"fmt"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Qwen2-VL and Qwen2.5-VL, as Qwen2VLVisionModel in llama.cpp's
// conversion/qwenvl.py writes them: the Conv3d patch embedding over two
// frames becomes two Conv2d kernels (v.patch_embd.weight and .weight.1),
// each block's fused QKV three tensors, and the config's names are
// renamed (num_heads, depth; Qwen2-VL's embed_dim is the width and its
// hidden_size the feed-forward length the converter writes). Qwen2.5-VL
// adds the window-attention pattern.
func init() {
	visionHooks["qwen2vl_merger"] = visionHook{config: qwen2vlConfig, tensors: qwen2vlSplit, unmap: qwen2vlUnmap}
	visionHooks["qwen2.5vl_merger"] = visionHook{config: qwen25vlConfig, tensors: qwen2vlSplit, unmap: qwen25vlUnmap}
}

// qwen2vlConfig is Qwen2VLVisionModel.__init__'s renames.
func qwen2vlConfig(vcfg map[string]any) error {
	if _, ok := vcfg["image_size"]; !ok {
		vcfg["image_size"] = int64(560)
	}
	for _, k := range [][2]string{{"num_attention_heads", "num_heads"}, {"num_hidden_layers", "depth"}} {
		x, ok := vcfg[k[1]]
		if !ok {
			return fmt.Errorf("config.json vision_config has no %s", k[1])
		}
		vcfg[k[0]] = x
	}
	if e, ok := vcfg["embed_dim"]; ok { // Qwen2-VL
		vcfg["intermediate_size"] = vcfg["hidden_size"]
		vcfg["hidden_size"] = e
	}
	return nil
}

// qwen25vlConfig adds n_wa_pattern: full attention every n_wa_pattern
// blocks, from fullatt_block_indexes, which must be evenly spaced.
func qwen25vlConfig(vcfg map[string]any) error {
	if err := qwen2vlConfig(vcfg); err != nil {
		return err
	}
	l, ok := vcfg["fullatt_block_indexes"].([]any)
	if !ok || len(l) == 0 {
		return fmt.Errorf("config.json vision_config.fullatt_block_indexes: want a list of block numbers (Qwen2.5-VL's window attention needs it)")
	}
	idx := make([]int64, len(l))
	for i, x := range l {
		n, isInt := intOf(x)
		if !isInt || n < 0 {
			return fmt.Errorf("config.json vision_config.fullatt_block_indexes[%d] = %v: want a block number", i, x)
		}
		idx[i] = n
	}
	p := idx[0] + 1
	for i := 1; i < len(idx); i++ {
		if idx[i]-idx[i-1] != p {
			return fmt.Errorf("config.json vision_config.fullatt_block_indexes %v: not one block in every %d, the pattern llama.cpp's window attention takes", idx, p)
		}
	}
	if w, ok := vcfg["window_size"]; ok {
		if n, isInt := intOf(w); !isInt || n <= 0 {
			return fmt.Errorf("config.json vision_config.window_size = %v: want a positive number of pixels", w)
		}
	}
	vcfg["n_wa_pattern"] = p
	return nil
}

// qwen2vlSplit is modify_tensors: visual.blocks.N.attn.qkv becomes
// attn.q, attn.k, attn.v (equal thirds of the rows, or of a bias), and
// visual.patch_embed.proj.weight [out, in, 2, kh, kw] its two frames'
// kernels, "….weight" and "….weight.1".
func qwen2vlSplit(ts []*tensor.Desc) ([]*tensor.Desc, error) {
	var out []*tensor.Desc
	for _, d := range ts {
		switch {
		case strings.Contains(d.Name, ".attn.qkv."):
			parts, err := splitThirds(d)
			if err != nil {
				return nil, err
			}
			out = append(out, parts...)
		case strings.HasSuffix(d.Name, "patch_embed.proj.weight"):
			if len(d.Shape) != 5 || d.Shape[2] != 2 {
				return nil, fmt.Errorf("tensor %s: shape %v, want [out, in, 2, kh, kw] (a Conv3d over two frames; temporal_patch_size 2)", d.Name, d.Shape)
			}
			kh := d.Shape[3]
			for t := int64(0); t < 2; t++ {
				nd := d.Clone()
				nd.Shape = []int64{d.Shape[0], d.Shape[1], kh, d.Shape[4]}
				nd.Src = &rowMap{src: d.Src, rowBytes: d.RowBytes(), mapRow: func(o int64) int64 { return (o/kh)*2*kh + t*kh + o%kh },
					what: fmt.Sprintf("frame %d", t)}
				if t == 1 {
					nd.Name += ".1"
				}
				out = append(out, nd)
			}
		default:
			out = append(out, d)
		}
	}
	return out, nil
}

// splitThirds cuts a fused QKV weight (rows) or bias (elements) into q, k
// and v.
func splitThirds(d *tensor.Desc) ([]*tensor.Desc, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	if len(d.Shape) < 1 || len(d.Shape) > 2 || d.Shape[0]%3 != 0 {
		return nil, fmt.Errorf("tensor %s: shape %v, want 3 x n rows (fused q, k, v)", d.Name, d.Shape)
	}
	c := d.Shape[0] / 3
	var out []*tensor.Desc
	for i, p := range []string{"q", "k", "v"} {
		nd := d.Clone()
		nd.Name = strings.Replace(d.Name, ".qkv.", "."+p+".", 1)
		nd.Shape[0] = c
		at := int64(i) * c
		if len(d.Shape) == 2 {
			nd.Src = &rowMap{src: d.Src, rowBytes: d.RowBytes(), mapRow: func(r int64) int64 { return at + r }, what: p + " rows"}
		} else {
			es, err := elemSize(d)
			if err != nil {
				return nil, err
			}
			src := d.Clone()
			nd.Src = &whole{rowBytes: c * es, what: p + " of " + d.Src.Describe(), compute: func() ([]byte, error) {
				b, err := tensor.ReadAll(src)
				if err != nil {
					return nil, err
				}
				return b[at*es : (at+c)*es], nil
			}}
		}
		out = append(out, nd)
	}
	return out, nil
}
