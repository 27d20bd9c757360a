package arch

import (
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// invertRowMap undoes a row-map transform (permute_qk, falcon_qkv): it
// builds the forward map for a tensor of this shape, inverts it as a
// permutation, and streams the inverse as another row map. A 1-D tensor
// (a permuted bias) is permuted element-wise in memory; it is small.
func invertRowMap(c *tctx, d *tensor.Desc, t [2]string) (*tensor.Desc, error) {
	flat := len(d.Shape) == 1
	probe := &tensor.Desc{Name: d.Name, DType: d.DType, Shape: d.Shape, Src: d.Src}
	if flat {
		probe.Shape = []int64{d.Shape[0], 1}
	}
	fwd, err := transforms[t[0]].build(c, probe, t[1])
	if err != nil {
		return nil, fmt.Errorf("undoing %s: %w", t[0], err)
	}
	rm, ok := fwd.Src.(*rowMap)
	if !ok {
		return nil, fmt.Errorf("tensor %s: transform %s is not a row map and cannot be undone", d.Name, t[0])
	}
	rows := probe.Shape[0]
	inv := make([]int64, rows)
	seen := make([]bool, rows)
	for o := int64(0); o < rows; o++ {
		i := rm.mapRow(o)
		if i < 0 || i >= rows || seen[i] {
			return nil, fmt.Errorf("tensor %s: transform %s is not a permutation of its rows", d.Name, t[0])
		}
		seen[i], inv[i] = true, o
	}
	return permuted(d, "undo_"+t[0], func(r int64) int64 { return inv[r] }, flat, rows)
}

// normMinusOne undoes Gemma's norm + 1 in float32. An F16 tensor stays F16
// (the converter added in float16 for float16 checkpoints); every other
// type comes out F32, to be rounded once to the requested type.
func normMinusOne(d *tensor.Desc) (*tensor.Desc, error) {
	if !tensor.HasCodec(d.DType) || d.DType.Info().BlockSize != 1 {
		return nil, fmt.Errorf("undoing norm_plus_one of %s: cannot decode %v (dequantize first)", d.Name, d.DType)
	}
	out := d.Clone()
	if d.DType != tensor.F16 {
		out.DType = tensor.F32
	}
	out.Src = &mapped{src: d.Src, from: d.DType, to: out.DType, rowLen: d.RowLen(), inRB: d.RowBytes(), outRB: out.RowBytes(),
		f: func(x float32) float32 { return x - 1 }, what: "norm_minus_one"}
	return out, nil
}

// unstack splits a stacked tensor along its leading axis into members
// that each read their own run of rows.
func unstack(d *tensor.Desc) ([]*tensor.Desc, error) {
	if len(d.Shape) < 2 || d.Shape[0] <= 0 {
		return nil, fmt.Errorf("unstacking %s: shape %v has no leading member axis", d.Name, d.Shape)
	}
	n := d.Shape[0]
	if n > 1<<16 {
		return nil, fmt.Errorf("unstacking %s: %d members is implausible", d.Name, n)
	}
	each := d.Rows() / n
	out := make([]*tensor.Desc, n)
	for x := int64(0); x < n; x++ {
		m := &tensor.Desc{Name: d.Name, DType: d.DType, Shape: append([]int64(nil), d.Shape[1:]...)}
		m.Src = &rowMap{src: d.Src, rowBytes: d.RowBytes(), mapRow: func(r int64) int64 { return x*each + r },
			what: fmt.Sprintf("member %d", x)}
		out[x] = m
	}
	return out, nil
}
