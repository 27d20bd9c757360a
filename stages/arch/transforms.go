package arch

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// tctx is what a transform may consult: the resolved hyperparameters and
// the caller's options.
type tctx struct {
	h    *hparams
	opts RemapOptions
}

// transform builds the descriptor of a transformed tensor; arg is the text
// after ':' in the table ("n_head" in "permute_qk:n_head").
type transform struct {
	needsArg bool
	build    func(c *tctx, d *tensor.Desc, arg string) (*tensor.Desc, error)
}

var transforms = map[string]transform{
	"permute_qk":      {true, permuteQK},
	"norm_plus_one":   {false, normPlusOne},
	"transpose":       {false, transpose},
	"falcon_qkv":      {false, falconQKV},
	"truncate_vocab":  {false, truncateVocab},
	"transpose_heads": {false, transposeHeads},
	"bitnet_ternary":  {false, bitnetTernary},
}

func transformNames() string {
	names := make([]string, 0, len(transforms))
	for k := range transforms {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// elemSize is the byte size of one element of a plain (non-block) dtype.
func elemSize(d *tensor.Desc) (int64, error) {
	in := d.DType.Info()
	if in.BlockSize != 1 || in.BlockBytes == 0 {
		return 0, fmt.Errorf("tensor %s: dtype %v is not a plain element type", d.Name, d.DType)
	}
	return in.BlockBytes, nil
}

// permuteQK undoes the rotary half-split of HF's Q/K projections, as
// LlamaModel.permute: within each of n heads, output row 2i+j comes from
// input row j*half+i (half = rows per head / 2). Weights stream as a row
// map; a 1-D bias is permuted element-wise in memory (it is tiny).
func permuteQK(c *tctx, d *tensor.Desc, arg string) (*tensor.Desc, error) {
	heads, err := c.h.intParam(arg)
	if err != nil {
		return nil, fmt.Errorf("permute_qk of %s: %w", d.Name, err)
	}
	if len(d.Shape) == 0 || len(d.Shape) > 2 {
		return nil, fmt.Errorf("permute_qk of %s: shape %v, want 1 or 2 dimensions", d.Name, d.Shape)
	}
	n := d.Shape[0]
	if n%(2*heads) != 0 {
		return nil, fmt.Errorf("permute_qk of %s: %d rows do not split into %d heads of an even size (%s = %d)", d.Name, n, heads, arg, heads)
	}
	half := n / heads / 2
	perm := func(o int64) int64 {
		h, rem := o/(2*half), o%(2*half)
		return h*2*half + (rem%2)*half + rem/2
	}
	return permuted(d, fmt.Sprintf("permute_qk[%d]", heads), perm, len(d.Shape) == 1, n)
}

// permuted returns d with output row (or, flat, element) o taken from input
// o' = perm(o). Rows stream as a row map; a flat permutation moves single
// elements across rows, so it is done in memory on the whole (1-D, tiny)
// tensor.
func permuted(d *tensor.Desc, what string, perm func(int64) int64, flat bool, n int64) (*tensor.Desc, error) {
	out := d.Clone()
	if !flat {
		out.Src = &rowMap{src: d.Src, rowBytes: d.RowBytes(), mapRow: perm, what: what}
		return out, nil
	}
	es, err := elemSize(d)
	if err != nil {
		return nil, err
	}
	src := d.Clone()
	out.Src = &whole{rowBytes: d.RowBytes(), what: what + "(" + d.Src.Describe() + ")", compute: func() ([]byte, error) {
		in, err := tensor.ReadAll(src)
		if err != nil {
			return nil, err
		}
		b := make([]byte, len(in))
		for o := int64(0); o < n; o++ {
			copy(b[o*es:(o+1)*es], in[perm(o)*es:(perm(o)+1)*es])
		}
		return b, nil
	}}
	return out, nil
}

// normPlusOne adds 1 to every element (Gemma stores RMSNorm weights minus
// one). The converter does the addition in float16 for float16 checkpoints
// and in float32 otherwise (it widens every other dtype first), so the
// output dtype follows.
func normPlusOne(c *tctx, d *tensor.Desc, _ string) (*tensor.Desc, error) {
	if !tensor.HasCodec(d.DType) || d.DType.Info().BlockSize != 1 {
		return nil, fmt.Errorf("norm_plus_one of %s: cannot decode %v", d.Name, d.DType)
	}
	out := d.Clone()
	out.DType = tensor.F32
	if d.DType == tensor.F16 {
		out.DType = tensor.F16
	}
	out.Src = &mapped{src: d.Src, from: d.DType, to: out.DType, rowLen: d.RowLen(), inRB: d.RowBytes(), outRB: out.RowBytes(),
		f: func(x float32) float32 { return x + 1 }, what: "norm_plus_one"}
	return out, nil
}

// transpose swaps the two axes of a GPT-2 Conv1D weight ([in, out] to
// [out, in]). An output row is an input column, so the whole input is read
// once on first use and held while the tensor is being written.
func transpose(c *tctx, d *tensor.Desc, _ string) (*tensor.Desc, error) {
	if len(d.Shape) != 2 {
		return nil, fmt.Errorf("transpose of %s: shape %v, want 2 dimensions", d.Name, d.Shape)
	}
	es, err := elemSize(d)
	if err != nil {
		return nil, err
	}
	rows, cols := d.Shape[0], d.Shape[1]
	out := d.Clone()
	out.Shape = []int64{cols, rows}
	src := d.Clone()
	out.Src = &whole{rowBytes: rows * es, what: "transpose(" + d.Src.Describe() + ")", compute: func() ([]byte, error) {
		in, err := tensor.ReadAll(src)
		if err != nil {
			return nil, err
		}
		b := make([]byte, len(in))
		for r := int64(0); r < rows; r++ {
			for c := int64(0); c < cols; c++ {
				copy(b[(c*rows+r)*es:(c*rows+r+1)*es], in[(r*cols+c)*es:(r*cols+c+1)*es])
			}
		}
		return b, nil
	}}
	return out, nil
}

// falconQKV regroups Falcon's fused QKV rows from n_kv groups of
// (n_head/n_kv queries, one key, one value) to all queries, then all keys,
// then all values, as the converter does (the "jploski" layout). With as
// many KV heads as heads it is GPT-NeoX's per-head (q, k, v) regrouping,
// which the converter also applies to the fused bias.
func falconQKV(c *tctx, d *tensor.Desc, _ string) (*tensor.Desc, error) {
	nHead, err := c.h.intParam("n_head")
	if err != nil {
		return nil, fmt.Errorf("falcon_qkv of %s: %w", d.Name, err)
	}
	nKV, err := c.h.intParam("n_kv_head")
	if err != nil {
		return nil, fmt.Errorf("falcon_qkv of %s: %w", d.Name, err)
	}
	hd, err := c.h.intParam("head_dim")
	if err != nil {
		return nil, fmt.Errorf("falcon_qkv of %s: %w", d.Name, err)
	}
	if len(d.Shape) < 1 || len(d.Shape) > 2 || nHead%nKV != 0 || d.Shape[0] != (nHead+2*nKV)*hd {
		return nil, fmt.Errorf("falcon_qkv of %s: shape %v does not hold %d query and 2x%d key/value heads of %d", d.Name, d.Shape, nHead, nKV, hd)
	}
	per := nHead / nKV // queries per group
	mapRow := func(o int64) int64 {
		switch {
		case o < nHead*hd: // query head qh, dim i
			qh, i := o/hd, o%hd
			return ((qh/per)*(per+2)+qh%per)*hd + i
		case o < (nHead+nKV)*hd:
			g, i := (o-nHead*hd)/hd, o%hd
			return (g*(per+2)+per)*hd + i
		default:
			g, i := (o-(nHead+nKV)*hd)/hd, o%hd
			return (g*(per+2)+per+1)*hd + i
		}
	}
	if len(d.Shape) == 1 { // a fused bias: the same regrouping of single elements (GPT-NeoX)
		return permuted(d, "falcon_qkv", mapRow, true, d.Shape[0])
	}
	out := d.Clone()
	out.Src = &rowMap{src: d.Src, rowBytes: d.RowBytes(), mapRow: mapRow, what: "falcon_qkv"}
	return out, nil
}

// truncateVocab drops embedding rows past the tokenizer's real vocabulary
// (Gemma 3 pads its embedding matrix); without the count it is a no-op.
func truncateVocab(c *tctx, d *tensor.Desc, _ string) (*tensor.Desc, error) {
	n := c.opts.VocabTokens
	if n <= 0 || len(d.Shape) == 0 || n >= d.Shape[0] {
		return d, nil
	}
	out := d.Clone()
	out.Shape[0] = n
	out.Src = &rowMap{src: d.Src, rowBytes: d.RowBytes(), mapRow: func(r int64) int64 { return r }, what: "truncate_vocab"}
	return out, nil
}

// stack concatenates equal-shaped members along a new leading axis.
func stack(name string, members []*tensor.Desc) (*tensor.Desc, error) {
	first := members[0]
	srcs := make([]tensor.Source, len(members))
	for i, m := range members {
		if m.DType != first.DType || fmt.Sprint(m.Shape) != fmt.Sprint(first.Shape) {
			return nil, fmt.Errorf("stacking %s: %s is %v %v but %s is %v %v", name, m.Name, m.DType, m.Shape, first.Name, first.DType, first.Shape)
		}
		srcs[i] = m.Src
	}
	shape := append([]int64{int64(len(members))}, first.Shape...)
	out := &tensor.Desc{Name: name, DType: first.DType, Shape: shape}
	out.Src = &concat{srcs: srcs, rowsEach: first.Rows(), rowBytes: first.RowBytes(), what: fmt.Sprintf("stack of %d (%s, ...)", len(members), first.Src.Describe())}
	return out, nil
}
