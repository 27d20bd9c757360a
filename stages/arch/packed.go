package arch

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// dequantPacked replaces compressed-tensors "pack-quantized" linears
// (<base>.weight_packed: int32 words holding 32/bits integers of a row, low
// bits first; .weight_scale per group of group_size columns; .weight_shape;
// optional .weight_zero_point packed along the rows) by <base>.weight in
// float32, as the converter's dequant_packed: (q - zero) x scale, zero being
// 2^(bits-1) without zero points. The new weights follow every other tensor,
// as the converter orders them. Rows stream: each output row is one packed row.
func dequantPacked(wc map[string]any, tensors []*tensor.Desc) ([]*tensor.Desc, error) {
	if wc["strategy"] != "group" || (wc["type"] != nil && wc["type"] != "int") {
		return nil, fmt.Errorf("config.json quantization_config: pack-quantized weights with strategy %v and type %v cannot be read (group, int)", wc["strategy"], wc["type"])
	}
	bits, ok1 := intOf(wc["num_bits"])
	group, ok2 := intOf(wc["group_size"])
	if !ok1 || !ok2 || bits < 1 || bits > 8 || 32%bits != 0 || group < 1 {
		return nil, fmt.Errorf("config.json quantization_config: pack-quantized num_bits %v, group_size %v: want bits dividing 32 and a positive group", wc["num_bits"], wc["group_size"])
	}
	return repack{what: "pack-quantized checkpoint", lead: ".weight_packed", need: []string{".weight_packed", ".weight_scale", ".weight_shape"},
		optional: []string{".weight_zero_point"},
		build: func(base string, p map[string]*tensor.Desc) (*tensor.Desc, error) {
			return packedWeight(base, p[".weight_packed"], p[".weight_scale"], p[".weight_shape"], p[".weight_zero_point"], bits, group)
		}}.apply(tensors)
}

// packedWeight reads the two-element shape (the only data read at plan
// time) and checks every tensor against it.
func packedWeight(base string, w, sc, sh, zp *tensor.Desc, bits, group int64) (*tensor.Desc, error) {
	if err := sh.Check(); err != nil {
		return nil, err
	}
	if sh.Elems() != 2 || (sh.DType != tensor.I32 && sh.DType != tensor.I64) {
		return nil, fmt.Errorf("%s: %v %v, want two integers", sh.Name, sh.DType, sh.Shape)
	}
	raw, err := tensor.ReadAll(sh)
	if err != nil {
		return nil, err
	}
	dims := make([]int64, 2)
	for i := range dims {
		if sh.DType == tensor.I32 {
			dims[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		} else {
			dims[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	}
	rows, cols, pack := dims[0], dims[1], 32/bits
	groups := (cols + group - 1) / group
	switch {
	case rows <= 0 || cols <= 0 || cols%group != 0:
		return nil, fmt.Errorf("%s: shape %v: want positive sizes, columns a multiple of the group size %d", sh.Name, dims, group)
	case w.DType != tensor.I32 || len(w.Shape) != 2 || w.Shape[0] != rows || w.Shape[1] != (cols+pack-1)/pack:
		return nil, fmt.Errorf("%s: %v %v, want I32 [%d %d] (%d columns, %d to an int32)", w.Name, w.DType, w.Shape, rows, (cols+pack-1)/pack, cols, pack)
	case len(sc.Shape) != 2 || sc.Shape[0] != rows || sc.Shape[1] != groups || !tensor.HasCodec(sc.DType) || sc.DType.Info().BlockSize != 1:
		return nil, fmt.Errorf("%s: %v %v, want [%d %d] (a scale per group of %d)", sc.Name, sc.DType, sc.Shape, rows, groups, group)
	case zp != nil && (zp.DType != tensor.I32 || len(zp.Shape) != 2 || zp.Shape[0] != (rows+pack-1)/pack || zp.Shape[1] != groups):
		return nil, fmt.Errorf("%s: %v %v, want I32 [%d %d] (zero points packed along the rows)", zp.Name, zp.DType, zp.Shape, (rows+pack-1)/pack, groups)
	}
	src := &packedSource{w: w, sc: sc, zp: zp, bits: bits, pack: pack, group: group, cols: cols, groups: groups,
		what: fmt.Sprintf("pack-quantized%d(%s)", bits, w.Src.Describe())}
	return &tensor.Desc{Name: base + ".weight", DType: tensor.F32, Shape: []int64{rows, cols}, Src: src}, nil
}

type packedSource struct {
	w, sc, zp         *tensor.Desc
	bits, pack, group int64
	cols, groups      int64
	what              string
}

func (p *packedSource) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*p.cols*4 {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows of %d", p.what, len(dst), n, p.cols)
	}
	wb := make([]byte, n*p.w.RowBytes())
	if err := p.w.Src.ReadRows(row, n, wb); err != nil {
		return err
	}
	sb := make([]byte, n*p.sc.RowBytes())
	if err := p.sc.Src.ReadRows(row, n, sb); err != nil {
		return err
	}
	scales := make([]float32, n*p.groups)
	if err := tensor.ToFloat32(p.sc.DType, sb, scales); err != nil {
		return err
	}
	var zw []uint32
	z0 := row / p.pack
	if p.zp != nil {
		z1 := (row + n - 1) / p.pack
		zb := make([]byte, (z1-z0+1)*p.zp.RowBytes())
		if err := p.zp.Src.ReadRows(z0, z1-z0+1, zb); err != nil {
			return err
		}
		zw = u32s(zb)
	}
	mask := uint32(1)<<p.bits - 1
	packed := p.w.Shape[1]
	for k := int64(0); k < n; k++ {
		r := row + k
		words := wb[k*packed*4:]
		for c := int64(0); c < p.cols; c++ {
			q := int32(binary.LittleEndian.Uint32(words[(c/p.pack)*4:]) >> uint(p.bits*(c%p.pack)) & mask)
			g := c / p.group
			off := int32(1) << (p.bits - 1)
			if zw != nil {
				off = int32(zw[(r/p.pack-z0)*p.groups+g] >> uint(p.bits*(r%p.pack)) & mask)
			}
			v := float32(q-off) * scales[k*p.groups+g]
			binary.LittleEndian.PutUint32(dst[(k*p.cols+c)*4:], math.Float32bits(v))
		}
	}
	return nil
}

func (p *packedSource) Describe() string { return p.what }
