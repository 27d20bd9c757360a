package quant_test

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

var fuzzTypes = []tensor.DType{tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1, tensor.Q8_0,
	tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.Q8_K,
	tensor.MXFP4, tensor.TQ1_0, tensor.TQ2_0, tensor.IQ4_NL, tensor.IQ4_XS,
	tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_S, tensor.IQ1_M, tensor.Q1_0, tensor.Q2_0}

// fuzzSeeds returns the first bytes of each quantized reference tensor, when
// the corpus is there.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	dir, ok := corpus.Find()
	if !ok {
		return nil
	}
	for _, name := range []string{"Q4_0", "Q5_1", "Q2_K-pure", "Q3_K-pure", "Q4_K-pure", "Q5_K-pure", "Q6_K-pure"} {
		path := filepath.Join(dir, "tiny-llama-spm-ref", "tiny-llama-spm-"+name+".gguf")
		if _, err := os.Stat(path); err != nil {
			continue
		}
		for _, ten := range readGGUF(f, path) {
			if ten.typ.Quantized() {
				seeds = append(seeds, ten.data[:min(len(ten.data), 2*int(ten.typ.Info().BlockBytes))])
				break
			}
		}
	}
	return seeds
}

// FuzzDequantize decodes arbitrary bytes as every block type: whole blocks
// must decode without error or panic, anything else must be refused.
func FuzzDequantize(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add(make([]byte, 292))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			t.Skip("long inputs add nothing but time")
		}
		for _, typ := range fuzzTypes {
			bb, bs := int(typ.Info().BlockBytes), int(typ.Info().BlockSize)
			n := len(data) / bb
			if err := quant.Dequantize(typ, data[:n*bb], make([]float32, n*bs)); err != nil {
				t.Fatalf("%v: %v", typ, err)
			}
			if len(data)%bb != 0 {
				if err := quant.Dequantize(typ, data, make([]float32, n*bs)); err == nil {
					t.Fatalf("%v: accepted %d bytes", typ, len(data))
				}
			}
		}
	})
}

// FuzzQuantize quantizes arbitrary float32 bit patterns (padded to a whole
// super-block, one row) with every quantizer: never a panic, and inputs of moderate
// magnitude come back finite and within the block's range.
func FuzzQuantize(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0})
	f.Add(make([]byte, 64))
	// Build the IQ lattices (about a second of CPU) before the fuzzing
	// engine times single inputs.
	for _, typ := range fuzzTypes {
		one := make([]float32, 256)
		_ = quant.QuantizeRows(typ, one, 256, one, make([]byte, mustRowBytes(f, typ, 256)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<14 {
			t.Skip("long inputs add nothing but time")
		}
		x := make([]float32, max(1, (len(data)/4+255)/256)*256) // one row, never empty
		moderate := true
		for i := 0; i+4 <= len(data); i += 4 {
			x[i/4] = math.Float32frombits(binary.LittleEndian.Uint32(data[i:]))
			if !(math.Abs(float64(x[i/4])) <= 1000) {
				moderate = false
			}
		}
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		// Weights are never negative: an imatrix holds means of squared
		// activations and imatrix.Select refuses a negative one. With
		// negative weights ggml's IQ searches fit scales against them and
		// return values far outside the block (testdata seed ce084d3d1a7e3667,
		// byte-identical in ggml's quantize_iq2_xs), so the fuzzer feeds |x|.
		absRow := make([]float32, len(x))
		for i, v := range x {
			absRow[i] = float32(math.Abs(float64(v)))
		}
		for _, typ := range fuzzTypes {
			if !quant.Supported(typ) {
				continue
			}
			nb := mustRowBytes(t, typ, len(x))
			q := make([]byte, nb)
			var w []float32 // |row| doubles as its own importance weights
			if quant.NeedsImportance(typ) {
				w = absRow
			}
			if err := quant.QuantizeRows(typ, x, len(x), w, q); err != nil {
				t.Fatalf("%v: %v", typ, err)
			}
			y := make([]float32, len(x))
			if err := quant.Dequantize(typ, q, y); err != nil {
				t.Fatalf("%v: %v", typ, err)
			}
			if !moderate || typ == tensor.IQ1_S || typ == tensor.IQ1_M {
				// IQ1's values are ±1/8 off the grid's -1, 0, 1 and its
				// super-scale is refitted over the whole block: a nearly
				// zero group comes back larger than the block's maximum,
				// in ggml too (testdata/fuzz/FuzzQuantize/9dce1d862cd79765
				// is byte-identical to ggml's quantize_iq1_m).
				continue
			}
			for i, v := range y {
				if !(math.Abs(float64(v)) <= 2*float64(amax)+1e-3) {
					t.Fatalf("%v: element %d = %g from %g (block max %g)", typ, i, v, x[i], amax)
				}
			}
		}
	})
}
