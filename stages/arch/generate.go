package arch

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// generator synthesizes tensors the checkpoint does not hold, named names;
// it returns none when the config does not call for them.
type generator struct {
	names []string
	gen   func(h *hparams) ([]*tensor.Desc, error)
}

var generators = map[string]generator{
	"rope_freqs_llama3": {[]string{"rope_freqs.weight"}, func(h *hparams) ([]*tensor.Desc, error) {
		d, err := ropeFreqsLlama3(h)
		if d == nil || err != nil {
			return nil, err
		}
		return []*tensor.Desc{d}, nil
	}},
	"rope_factors_longrope": {[]string{"rope_factors_long.weight", "rope_factors_short.weight"}, ropeFactorsLongrope},
}

// ropeFactorsLongrope writes Phi-3's LongRoPE long and short factors (the
// rope parameters' long_factor and short_factor, one per rotary pair) as
// float32 tensors, as Phi3MiniModel.generate_extra_tensors; none without
// a long_factor.
func ropeFactorsLongrope(h *hparams) ([]*tensor.Desc, error) {
	long, _ := h.rope["long_factor"].([]any)
	if len(long) == 0 {
		return nil, nil
	}
	short, _ := h.rope["short_factor"].([]any)
	dims, err := h.evalNum("rope_dims")
	if err != nil {
		return nil, fmt.Errorf("rope_factors_long.weight: %w", err)
	}
	if len(short) != len(long) || float64(len(long)) != dims/2 {
		return nil, fmt.Errorf("rope_factors_long.weight: long_factor has %d entries and short_factor %d, want %v each (rotary dimensions / 2)", len(long), len(short), dims/2)
	}
	var out []*tensor.Desc
	for _, f := range []struct {
		name string
		vals []any
	}{{"rope_factors_long.weight", long}, {"rope_factors_short.weight", short}} {
		n := int64(len(f.vals))
		data := make([]byte, 4*n)
		for i, v := range f.vals {
			x, ok := num(v)
			if !ok {
				return nil, fmt.Errorf("%s: factor %d = %v: want a number", f.name, i, v)
			}
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(x)))
		}
		out = append(out, &tensor.Desc{Name: f.name, DType: tensor.F32, Shape: []int64{n},
			Src: &tensor.Bytes{Data: data, RowBytes: 4 * n, What: "longrope " + f.name}})
	}
	return out, nil
}

// ropeFreqsLlama3 computes the per-frequency scaling factors of Llama 3.1
// rope scaling, which the converter stores as rope_freqs.weight instead of
// metadata. The arithmetic is float32 as in the converter's torch code; pow
// is computed in float64 and rounded, which can differ from torch's powf by
// one ulp in rare cases.
func ropeFreqsLlama3(h *hparams) (*tensor.Desc, error) {
	typ, _ := h.rope["rope_type"].(string)
	if !strings.EqualFold(typ, "llama3") {
		return nil, nil
	}
	fail := func(err error) (*tensor.Desc, error) {
		return nil, fmt.Errorf("rope_freqs.weight (llama3 rope scaling): %w", err)
	}
	base := 10000.0
	if v, ok := num(h.rope["rope_theta"]); ok {
		base = v
	}
	dim, err := h.intParam("head_dim")
	if err != nil {
		return fail(err)
	}
	get := func(key string, def float64) float64 {
		if v, ok := num(h.rope[key]); ok {
			return v
		}
		return def
	}
	factor := float32(get("factor", 8))
	low := get("low_freq_factor", 1)
	high := get("high_freq_factor", 4)
	// the rope parameters' own, as the converter reads it; then the config's
	oldCtx := 8192.0
	if v, ok := num(h.rope["original_max_position_embeddings"]); ok {
		oldCtx = v
	} else if v, ok := num(h.cfg["original_max_position_embeddings"]); ok {
		oldCtx = v
	}
	lowWave, highWave := float32(oldCtx/low), float32(oldCtx/high)
	n := dim / 2
	if n <= 0 || n > 1<<20 {
		return fail(fmt.Errorf("head_dim %d", dim))
	}
	data := make([]byte, 4*n)
	for i := int64(0); i < n; i++ {
		e := float32(2*i) / float32(dim)
		freq := 1 / float32(math.Pow(float64(float32(base)), float64(e)))
		wave := float32(2*math.Pi) / freq
		var f float32
		switch {
		case wave < highWave:
			f = 1
		case wave > lowWave:
			f = factor
		default:
			smooth := (float32(oldCtx)/wave - float32(low)) / float32(high-low)
			f = 1 / ((1-smooth)/factor + smooth)
		}
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(f))
	}
	return &tensor.Desc{Name: "rope_freqs.weight", DType: tensor.F32, Shape: []int64{n},
		Src: &tensor.Bytes{Data: data, RowBytes: 4 * n, What: "llama3 rope_freqs"}}, nil
}
