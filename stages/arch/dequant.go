package arch

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Dequant replaces the quantized weights of a checkpoint whose config.json
// has a quantization_config by float32 tensors computed row by row as the
// plan executes, as convert_hf_to_gguf.py's dequant_model does before it
// maps names. Supported: quant_method "fp8" (DeepSeek-V3/R1, Qwen3-FP8:
// <name>_scale_inv beside each weight, one scale per weight_block_size
// block, or one for the whole tensor without it); activation scales are
// dropped. Any other method is an error naming it. Without a
// quantization_config the tensors are returned as they are.
func Dequant(cfg map[string]any, tensors []*tensor.Desc) ([]*tensor.Desc, error) {
	qc, ok := cfg["quantization_config"].(map[string]any)
	if !ok {
		if tc, isMap := cfg["text_config"].(map[string]any); isMap {
			qc, ok = tc["quantization_config"].(map[string]any)
		}
	}
	if !ok {
		return tensors, nil
	}
	method, _ := qc["quant_method"].(string)
	if method != "fp8" {
		return nil, fmt.Errorf("config.json quantization_config.quant_method %q: quantized checkpoints of this method cannot be read yet (supported: fp8)", method)
	}
	var block []int64
	if bs, ok := qc["weight_block_size"]; ok && bs != nil {
		l, isList := bs.([]any)
		if !isList || len(l) != 2 {
			return nil, fmt.Errorf("config.json quantization_config.weight_block_size %v: want two block sizes [rows, columns]", bs)
		}
		for i, v := range l {
			n, isInt := intOf(v)
			if !isInt || n <= 0 {
				return nil, fmt.Errorf("config.json quantization_config.weight_block_size[%d] = %v: want a positive integer", i, v)
			}
			block = append(block, n)
		}
	}
	byName := map[string]*tensor.Desc{}
	for _, d := range tensors {
		byName[d.Name] = d
	}
	out := make([]*tensor.Desc, 0, len(tensors))
	var errs []string
	for _, d := range tensors {
		switch {
		case strings.HasSuffix(d.Name, "_scale_inv"):
			if _, ok := byName[strings.TrimSuffix(d.Name, "_scale_inv")]; !ok {
				errs = append(errs, fmt.Sprintf("%s: no weight %s beside it", d.Name, strings.TrimSuffix(d.Name, "_scale_inv")))
			}
			continue
		case strings.HasSuffix(d.Name, ".activation_scale") || strings.HasSuffix(d.Name, "_activation_scale"):
			continue // unused, as in the converter
		}
		s, ok := byName[d.Name+"_scale_inv"]
		if !ok {
			out = append(out, d)
			continue
		}
		nd, err := fp8Dequant(d, s, block)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, nd)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("fp8 checkpoint: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// fp8Dequant is w x scale in float32, the scale of element (r, c) being
// scale[r / block[0], c / block[1]] (the converter's repeat_interleave), or
// the only one without a block size.
func fp8Dequant(w, s *tensor.Desc, block []int64) (*tensor.Desc, error) {
	if err := w.Check(); err != nil {
		return nil, err
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	if len(w.Shape) != 2 || !tensor.HasCodec(w.DType) || w.DType.Info().BlockSize != 1 {
		return nil, fmt.Errorf("%s: %v %v, want a 2-D tensor of plain elements to dequantize", w.Name, w.DType, w.Shape)
	}
	if !tensor.HasCodec(s.DType) || s.DType.Info().BlockSize != 1 {
		return nil, fmt.Errorf("%s: scale dtype %v cannot be decoded", s.Name, s.DType)
	}
	rows, cols := w.Shape[0], w.Shape[1]
	d := &fp8Source{w: w.Src, s: s.Src, cols: cols, wDType: w.DType, sDType: s.DType, wRB: w.RowBytes(),
		what: fmt.Sprintf("dequant(%s x %s)", w.Src.Describe(), s.Src.Describe())}
	switch {
	case block != nil:
		br, bc := (rows+block[0]-1)/block[0], (cols+block[1]-1)/block[1]
		if len(s.Shape) != 2 || s.Shape[0] != br || s.Shape[1] != bc {
			return nil, fmt.Errorf("%s: shape %v, want [%d %d] (one scale per %dx%d block of %s %v)", s.Name, s.Shape, br, bc, block[0], block[1], w.Name, w.Shape)
		}
		d.bm, d.bn, d.sCols = block[0], block[1], bc
	case s.Elems() == 1:
		d.bm, d.bn, d.sCols = rows, cols, 1
	default:
		return nil, fmt.Errorf("%s: shape %v without a weight_block_size: want one scale for %s", s.Name, s.Shape, w.Name)
	}
	d.sRB, _ = s.DType.RowBytes(d.sCols)
	out := w.Clone()
	out.DType = tensor.F32
	out.Src = d
	return out, nil
}

type fp8Source struct {
	w, s           tensor.Source
	wDType, sDType tensor.DType
	cols, sCols    int64
	bm, bn         int64
	wRB, sRB       int64
	what           string
}

func (f *fp8Source) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*f.cols*4 {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows of %d", f.what, len(dst), n, f.cols)
	}
	wb := make([]byte, n*f.wRB)
	if err := f.w.ReadRows(row, n, wb); err != nil {
		return err
	}
	s0, s1 := row/f.bm, (row+n-1)/f.bm
	sb := make([]byte, (s1-s0+1)*f.sRB)
	if err := f.s.ReadRows(s0, s1-s0+1, sb); err != nil {
		return err
	}
	ws := make([]float32, n*f.cols)
	if err := tensor.ToFloat32(f.wDType, wb, ws); err != nil {
		return err
	}
	ss := make([]float32, (s1-s0+1)*f.sCols)
	if err := tensor.ToFloat32(f.sDType, sb, ss); err != nil {
		return err
	}
	for i := int64(0); i < n; i++ {
		srow := ss[((row+i)/f.bm-s0)*f.sCols:]
		for c := int64(0); c < f.cols; c++ {
			v := ws[i*f.cols+c] * srow[c/f.bn]
			binary.LittleEndian.PutUint32(dst[(i*f.cols+c)*4:], math.Float32bits(v))
		}
	}
	return nil
}

func (f *fp8Source) Describe() string { return f.what }
