package arch

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// generators synthesize tensors the checkpoint does not hold; each returns
// nil when the config does not call for it.
var generators = map[string]func(h *hparams) (*tensor.Desc, error){
	"rope_freqs_llama3": ropeFreqsLlama3,
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
	oldCtx := 8192.0
	if v, ok := num(h.cfg["original_max_position_embeddings"]); ok {
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
