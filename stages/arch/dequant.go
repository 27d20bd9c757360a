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
// block, or one for the whole tensor without it; activation scales are
// dropped), compressed-tensors' float-, int- and naive-quantized formats
// (<name>_scale per output channel or per block) and pack-quantized int
// groups (packed.go), and GPTQ (gptq.go); gpt-oss's "mxfp4" weights are
// not dequantized but kept as GGML MXFP4 (mxfp4.go), as the converter;
// "bitnet" ternary codes packed four to a byte (bitnet_packed.go). Any
// other method or format is an error naming it. Without a
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
	switch qc["quant_method"] {
	case "gptq":
		return dequantGPTQ(qc, tensors)
	case "mxfp4":
		return keepMXFP4(tensors)
	case "bitnet":
		return dequantBitnet(tensors)
	}
	if qc["quant_method"] == "compressed-tensors" && qc["format"] == "pack-quantized" {
		wc, err := weightScheme(qc)
		if err != nil {
			return nil, err
		}
		return dequantPacked(wc, tensors)
	}
	sch, err := schemeOf(qc)
	if err != nil {
		return nil, err
	}
	byName := map[string]*tensor.Desc{}
	for _, d := range tensors {
		byName[d.Name] = d
	}
	out := make([]*tensor.Desc, 0, len(tensors))
	var errs []string
	for _, d := range tensors {
		if w, ok := sch.weightOf(d.Name); ok {
			if _, ok := byName[w]; !ok {
				errs = append(errs, fmt.Sprintf("%s: no weight %s beside it", d.Name, w))
			}
			continue
		}
		if sch.method == "fp8" && (strings.HasSuffix(d.Name, ".activation_scale") || strings.HasSuffix(d.Name, "_activation_scale")) {
			continue // unused, as in the converter
		}
		s, ok := byName[d.Name+sch.suffix]
		if !ok {
			out = append(out, d)
			continue
		}
		nd, err := scaledDequant(d, s, sch.block)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, nd)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s checkpoint: %s", sch.method, strings.Join(errs, "; "))
	}
	return out, nil
}

// scheme is how a quantization_config stores scales: the suffix of each
// weight's scale tensor and the block each scale covers (nil: one scale
// per row or for the whole tensor, told from the scale's shape).
type scheme struct {
	method, suffix string
	block          []int64
}

// weightOf names the weight a scale tensor belongs to: x_scale_inv for fp8,
// x.weight_scale for compressed-tensors, as the converter matches them.
func (s scheme) weightOf(name string) (string, bool) {
	if s.method == "compressed-tensors" && !strings.HasSuffix(name, ".weight_scale") {
		return "", false
	}
	return strings.CutSuffix(name, s.suffix)
}

// schemeOf reads the quantization_config methods the converter dequantizes
// by a scale: fp8 (weight_scale_inv, weight_block_size) and compressed-
// tensors' float-, int- and naive-quantized formats with one config group
// (weight_scale; per channel, or per block_structure block).
func schemeOf(qc map[string]any) (scheme, error) {
	method, _ := qc["quant_method"].(string)
	switch method {
	case "fp8":
		block, err := blockSize(qc["weight_block_size"], "weight_block_size")
		return scheme{method: method, suffix: "_scale_inv", block: block}, err
	case "compressed-tensors":
		format, _ := qc["format"].(string)
		switch format {
		case "float-quantized", "int-quantized", "naive-quantized":
		default:
			return scheme{}, fmt.Errorf("config.json quantization_config: compressed-tensors format %q cannot be read yet (supported: float-quantized, int-quantized, naive-quantized, pack-quantized)", format)
		}
		wc, err := weightScheme(qc)
		if err != nil {
			return scheme{}, err
		}
		if gs, ok := wc["group_size"]; ok && gs != nil {
			return scheme{}, fmt.Errorf("config.json quantization_config: weights.group_size %v cannot be read yet (channel and block strategies only)", gs)
		}
		switch wc["strategy"] {
		case "channel":
			return scheme{method: method, suffix: "_scale"}, nil
		case "block":
			block, err := blockSize(wc["block_structure"], "weights.block_structure")
			if err == nil && block == nil {
				err = fmt.Errorf("config.json quantization_config.weights.block_structure: missing for the block strategy")
			}
			return scheme{method: method, suffix: "_scale", block: block}, err
		}
		return scheme{}, fmt.Errorf("config.json quantization_config: weights.strategy %v cannot be read yet (channel, block)", wc["strategy"])
	}
	return scheme{}, fmt.Errorf("config.json quantization_config.quant_method %q: quantized checkpoints of this method cannot be read yet (supported: fp8, compressed-tensors, gptq, mxfp4, bitnet)", method)
}

// weightScheme is the weights scheme of a compressed-tensors config's one
// config group (the converter handles one).
func weightScheme(qc map[string]any) (map[string]any, error) {
	groups, _ := qc["config_groups"].(map[string]any)
	if len(groups) != 1 {
		return nil, fmt.Errorf("config.json quantization_config.config_groups: %d groups, want one (as the converter)", len(groups))
	}
	var wc map[string]any
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		wc, _ = gm["weights"].(map[string]any)
	}
	if wc == nil {
		return nil, fmt.Errorf("config.json quantization_config.config_groups: no weights scheme")
	}
	return wc, nil
}

func blockSize(bs any, key string) ([]int64, error) {
	if bs == nil {
		return nil, nil
	}
	l, isList := bs.([]any)
	if !isList || len(l) != 2 {
		return nil, fmt.Errorf("config.json quantization_config.%s %v: want two block sizes [rows, columns]", key, bs)
	}
	var block []int64
	for i, v := range l {
		n, isInt := intOf(v)
		if !isInt || n <= 0 {
			return nil, fmt.Errorf("config.json quantization_config.%s[%d] = %v: want a positive integer", key, i, v)
		}
		block = append(block, n)
	}
	return block, nil
}

// scaledDequant is w x scale in float32 (the converter's dequant_simple),
// the scale of element (r, c) being scale[r / block[0], c / block[1]] (its
// repeat_interleave); without a block, the one scale of the tensor or of
// each row ([rows] or [rows, 1], broadcast along the row).
func scaledDequant(w, s *tensor.Desc, block []int64) (*tensor.Desc, error) {
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
	d := &scaledSource{w: w.Src, s: s.Src, cols: cols, wDType: w.DType, sDType: s.DType, wRB: w.RowBytes(),
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
	case s.Elems() == rows && (len(s.Shape) == 1 || len(s.Shape) == 2 && s.Shape[1] == 1):
		d.bm, d.bn, d.sCols = 1, cols, 1
	default:
		return nil, fmt.Errorf("%s: shape %v without a block size: want one scale for %s or one per row ([%d] or [%d 1])", s.Name, s.Shape, w.Name, rows, rows)
	}
	d.sRB, _ = s.DType.RowBytes(d.sCols)
	out := w.Clone()
	out.DType = tensor.F32
	out.Src = d
	return out, nil
}

type scaledSource struct {
	w, s           tensor.Source
	wDType, sDType tensor.DType
	cols, sCols    int64
	bm, bn         int64
	wRB, sRB       int64
	what           string
}

func (f *scaledSource) ReadRows(row, n int64, dst []byte) error {
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

func (f *scaledSource) Describe() string { return f.what }
