package arch

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// dequantBitnet replaces each <name>.weight beside a <name>.weight_scale of
// a quant_method "bitnet" checkpoint (microsoft/bitnet-b1.58-2B-4T's
// layout) by float32 weights in its place, as the converter's
// dequant_bitnet: uint8 [rows/4, columns] holding four 2-bit codes a byte,
// row j + k x rows/4 in bits 2k, each code c giving (c - 1) / scale with
// the one scale of the tensor. The scales are dropped. Rows stream: output
// row r is packed row r mod rows/4.
func dequantBitnet(tensors []*tensor.Desc) ([]*tensor.Desc, error) {
	byName := map[string]*tensor.Desc{}
	for _, d := range tensors {
		byName[d.Name] = d
	}
	out := make([]*tensor.Desc, 0, len(tensors))
	var errs []string
	for _, d := range tensors {
		if w, ok := strings.CutSuffix(d.Name, ".weight_scale"); ok {
			if byName[w+".weight"] == nil {
				errs = append(errs, fmt.Sprintf("%s: no %s.weight beside it", d.Name, w))
			}
			continue
		}
		s := byName[d.Name+"_scale"]
		if s == nil {
			out = append(out, d)
			continue
		}
		nd, err := bitnetWeight(d, s)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, nd)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("bitnet checkpoint: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

func bitnetWeight(w, s *tensor.Desc) (*tensor.Desc, error) {
	for _, d := range []*tensor.Desc{w, s} {
		if err := d.Check(); err != nil {
			return nil, err
		}
	}
	if (w.DType != tensor.U8 && w.DType != tensor.I8) || len(w.Shape) != 2 {
		return nil, fmt.Errorf("%s: %v %v, want U8 [rows/4, columns] (four 2-bit codes a byte)", w.Name, w.DType, w.Shape)
	}
	if s.Elems() != 1 || !tensor.HasCodec(s.DType) || s.DType.Info().BlockSize != 1 {
		return nil, fmt.Errorf("%s: %v %v, want one scale for %s", s.Name, s.DType, s.Shape, w.Name)
	}
	out := w.Clone()
	out.DType, out.Shape = tensor.F32, []int64{4 * w.Shape[0], w.Shape[1]}
	out.Src = &bitnetSource{w: w.Src, s: s, packed: w.Shape[0], cols: w.Shape[1],
		what: fmt.Sprintf("bitnet(%s / %s)", w.Src.Describe(), s.Src.Describe())}
	return out, nil
}

type bitnetSource struct {
	w            tensor.Source
	s            *tensor.Desc
	packed, cols int64
	what         string
	once         sync.Once
	scale        float32
	err          error
}

func (b *bitnetSource) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*b.cols*4 {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows of %d", b.what, len(dst), n, b.cols)
	}
	b.once.Do(func() {
		raw, err := tensor.ReadAll(b.s)
		if err != nil {
			b.err = err
			return
		}
		v := make([]float32, 1)
		b.err = tensor.ToFloat32(b.s.DType, raw, v)
		b.scale = v[0]
		if b.err == nil && (b.scale == 0 || math.IsNaN(float64(b.scale)) || math.IsInf(float64(b.scale), 0)) {
			b.err = fmt.Errorf("%s is %v: want a finite, nonzero scale (weights are codes / scale)", b.s.Name, b.scale)
		}
	})
	if b.err != nil {
		return fmt.Errorf("%s: %w", b.what, b.err)
	}
	in := make([]byte, b.cols)
	for k := int64(0); k < n; k++ {
		r := row + k
		if err := b.w.ReadRows(r%b.packed, 1, in); err != nil {
			return err
		}
		shift := uint(2 * (r / b.packed))
		o := dst[k*b.cols*4:]
		for c := int64(0); c < b.cols; c++ {
			v := float32(int(in[c]>>shift&3)-1) / b.scale
			binary.LittleEndian.PutUint32(o[c*4:], math.Float32bits(v))
		}
	}
	return nil
}

func (b *bitnetSource) Describe() string { return b.what }
