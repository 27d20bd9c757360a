package quant_test

import (
	"math"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

// ggmlTestData reproduces generate_data of llama.cpp's
// tests/test-quantize-fns.cpp: 0.1 + 2·cos(i + offset), computed as there
// (float cosine, the 0.1 added in double).
func ggmlTestData(offset float32, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		c := float32(math.Cos(float64(float32(i) + offset)))
		out[i] = float32(0.1 + float64(2*c))
	}
	return out
}

// ggmlRMSE is array_rmse of the same test: sqrt of the summed squared
// differences, divided by n (not under the root).
func ggmlRMSE(a, b []float32) float64 {
	var sum float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		sum += d * d
	}
	return float64(float32(math.Sqrt(sum))) / float64(len(a))
}

// TestRoundTripGGMLBounds quantizes and dequantizes test-quantize-fns' data
// (32·128 values) and holds each type to that test's total-error limit.
func TestRoundTripGGMLBounds(t *testing.T) {
	const (
		maxTotal   = 0.002  // MAX_QUANTIZATION_TOTAL_ERROR
		max2Bits   = 0.0075 // MAX_QUANTIZATION_TOTAL_ERROR_2BITS
		max3Bits   = 0.0040 // MAX_QUANTIZATION_TOTAL_ERROR_3BITS
		maxTernary = 0.01   // MAX_QUANTIZATION_TOTAL_ERROR_TERNARY
		maxBinary  = 0.025  // MAX_QUANTIZATION_TOTAL_ERROR_BINARY
	)
	for _, tc := range []struct {
		typ   tensor.DType
		bound float64
	}{
		{tensor.Q4_0, maxTotal}, {tensor.Q4_1, maxTotal}, {tensor.Q5_0, maxTotal}, {tensor.Q5_1, maxTotal},
		{tensor.Q8_0, maxTotal}, {tensor.Q2_K, max2Bits}, {tensor.Q3_K, max3Bits}, {tensor.Q4_K, maxTotal},
		{tensor.Q5_K, maxTotal}, {tensor.Q6_K, maxTotal}, {tensor.Q8_K, maxTotal},
		{tensor.MXFP4, maxTotal}, {tensor.TQ1_0, maxTernary}, {tensor.TQ2_0, maxTernary},
		{tensor.Q1_0, maxBinary}, {tensor.Q2_0, maxTernary},
	} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			if !quant.Supported(tc.typ) {
				t.Fatalf("%v not supported", tc.typ)
			}
			x := ggmlTestData(0, 32*128)
			q := make([]byte, mustRowBytes(t, tc.typ, len(x)))
			if err := quant.Quantize(tc.typ, x, q); err != nil {
				t.Fatal(err)
			}
			y := make([]float32, len(x))
			if err := quant.Dequantize(tc.typ, q, y); err != nil {
				t.Fatal(err)
			}
			if e := ggmlRMSE(x, y); !(e < tc.bound) {
				t.Errorf("total quantization error %g, ggml allows < %g", e, tc.bound)
			}
		})
	}
}

func mustRowBytes(t testing.TB, typ tensor.DType, n int) int64 {
	t.Helper()
	nb, err := typ.RowBytes(int64(n))
	if err != nil {
		t.Fatal(err)
	}
	return nb
}

// TestSizeErrors checks that mis-sized buffers are refused, not overrun.
func TestSizeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		typ   tensor.DType
		n, nb int
	}{
		{"partial block", tensor.Q4_0, 31, 18},
		{"short dst", tensor.Q4_K, 256, 143},
		{"long dst", tensor.Q8_0, 32, 35},
		{"empty vs one block", tensor.Q6_K, 0, 210},
		{"unquantized type", tensor.F16, 2, 4},
		{"type without codec", tensor.Q8_1, 32, 36},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := quant.Quantize(tc.typ, make([]float32, tc.n), make([]byte, tc.nb)); err == nil {
				t.Error("Quantize accepted it")
			}
			if err := quant.Dequantize(tc.typ, make([]byte, tc.nb), make([]float32, tc.n)); err == nil {
				t.Error("Dequantize accepted it")
			}
		})
	}
}

// TestRowOnlyTypes: the IQ types quantize by whole rows only, so Quantize
// (and the block codec tensor.Convert uses) refuses them, naming QuantizeRows.
func TestRowOnlyTypes(t *testing.T) {
	for _, typ := range []tensor.DType{tensor.IQ4_NL, tensor.IQ4_XS, tensor.IQ3_XXS, tensor.IQ3_S,
		tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_S, tensor.IQ1_M} {
		nb := mustRowBytes(t, typ, 256)
		err := quant.Quantize(typ, make([]float32, 256), make([]byte, nb))
		if err == nil || !strings.Contains(err.Error(), "QuantizeRows") {
			t.Errorf("%v: Quantize gave %v, want a refusal naming QuantizeRows", typ, err)
		}
		if !quant.Supported(typ) || !quant.RowOnly(typ) || tensor.HasCodec(typ) {
			t.Errorf("%v: Supported %v, RowOnly %v, tensor.HasCodec %v; want true, true, false",
				typ, quant.Supported(typ), quant.RowOnly(typ), tensor.HasCodec(typ))
		}
		if _, err := tensor.Convert(nil, tensor.F32, typ, 256); err == nil {
			t.Errorf("%v: tensor.Convert accepted it", typ)
		}
		err = quant.QuantizeRows(typ, make([]float32, 256), 256, nil, make([]byte, nb))
		if quant.NeedsImportance(typ) != (err != nil) {
			t.Errorf("%v: QuantizeRows without weights: %v (ggml needs them: %v)", typ, err, quant.NeedsImportance(typ))
		}
	}
}

// TestAwkwardInputs feeds zeros, constants, NaN, infinities, huge and
// subnormal values: no panic, and zero blocks decode to zeros.
func TestAwkwardInputs(t *testing.T) {
	inf := float32(math.Inf(1))
	fill := func(v float32) []float32 {
		x := make([]float32, 256)
		for i := range x {
			x[i] = v
		}
		return x
	}
	alt := fill(3e38)
	for i := 1; i < len(alt); i += 2 {
		alt[i] = -3e38
	}
	mixed := fill(1)
	mixed[3], mixed[77], mixed[200] = float32(math.NaN()), inf, -inf
	inputs := map[string][]float32{
		"zeros": fill(0), "ones": fill(1), "negative": fill(-2.5), "tiny": fill(1e-40),
		"huge": alt, "nan-inf": mixed, "nan": fill(float32(math.NaN())),
	}
	for _, typ := range []tensor.DType{tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1, tensor.Q8_0,
		tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.Q8_K,
		tensor.MXFP4, tensor.TQ1_0, tensor.TQ2_0, tensor.Q1_0, tensor.Q2_0} {
		for name, x := range inputs {
			q := make([]byte, mustRowBytes(t, typ, len(x)))
			if err := quant.Quantize(typ, x, q); err != nil {
				t.Fatalf("%v %s: %v", typ, name, err)
			}
			y := make([]float32, len(x))
			if err := quant.Dequantize(typ, q, y); err != nil {
				t.Fatalf("%v %s: %v", typ, name, err)
			}
			if name == "zeros" {
				for i, v := range y {
					if v != 0 {
						t.Fatalf("%v: zeros decode to %g at %d", typ, v, i)
					}
				}
			}
			if name == "ones" && typ != tensor.Q2_K && typ != tensor.Q3_K {
				for i, v := range y {
					if math.Abs(float64(v)-1) > 0.01 {
						t.Fatalf("%v: ones decode to %g at %d", typ, v, i)
					}
				}
			}
		}
	}
}

// TestNoAllocations holds the codecs to their promise of fixed-size scratch:
// quantizing or dequantizing a row allocates nothing.
func TestNoAllocations(t *testing.T) {
	x := ggmlTestData(0.5, 4096)
	y := make([]float32, len(x))
	for _, typ := range []tensor.DType{tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1, tensor.Q8_0,
		tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.Q8_K,
		tensor.MXFP4, tensor.TQ1_0, tensor.TQ2_0, tensor.Q1_0, tensor.Q2_0} {
		q := make([]byte, mustRowBytes(t, typ, len(x)))
		if n := testing.AllocsPerRun(3, func() { _ = quant.Quantize(typ, x, q) }); n != 0 {
			t.Errorf("Quantize(%v) allocates %v times per row", typ, n)
		}
		if n := testing.AllocsPerRun(3, func() { _ = quant.Dequantize(typ, q, y) }); n != 0 {
			t.Errorf("Dequantize(%v) allocates %v times per row", typ, n)
		}
	}
}

// TestIQAwkwardInputs runs the IQ row quantizers on the inputs ggml's
// asserts or overflows trip on (NaN, infinities, ±3e38): no panic, no hang,
// and a zero row decodes to zeros. (ggml aborts on some of these; what we
// write for them is unspecified.)
func TestIQAwkwardInputs(t *testing.T) {
	fill := func(v float32) []float32 {
		x := make([]float32, 512)
		for i := range x {
			x[i] = v
		}
		return x
	}
	alt := fill(3e38)
	for i := 1; i < len(alt); i += 2 {
		alt[i] = -3e38
	}
	mixed := fill(1)
	mixed[3], mixed[77], mixed[300] = float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))
	inputs := map[string][]float32{
		"zeros": fill(0), "ones": fill(1), "negative": fill(-2.5), "tiny": fill(1e-40),
		"huge": alt, "nan-inf": mixed, "nan": fill(float32(math.NaN())),
	}
	ones := fill(1)
	for _, typ := range []tensor.DType{tensor.IQ4_NL, tensor.IQ4_XS, tensor.IQ3_XXS, tensor.IQ3_S,
		tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_S, tensor.IQ1_M} {
		for name, x := range inputs {
			for _, w := range [][]float32{nil, ones, x} {
				if w == nil && quant.NeedsImportance(typ) {
					continue
				}
				q := make([]byte, mustRowBytes(t, typ, len(x)))
				if err := quant.QuantizeRows(typ, x, len(x), w, q); err != nil {
					t.Fatalf("%v %s: %v", typ, name, err)
				}
				y := make([]float32, len(x))
				if err := quant.Dequantize(typ, q, y); err != nil {
					t.Fatalf("%v %s: %v", typ, name, err)
				}
				if name == "zeros" {
					for i, v := range y {
						if v != 0 {
							t.Fatalf("%v: zeros decode to %g at %d", typ, v, i)
						}
					}
				}
			}
		}
	}
}

// TestIQNoAllocations: the IQ row quantizers keep their scratch on the
// stack too (their lattices are built once, before).
func TestIQNoAllocations(t *testing.T) {
	x := ggmlTestData(0.5, 4096)
	w := ggmlTestData(1, 4096)
	for i := range w {
		w[i] = w[i]*w[i] + 0.1
	}
	for _, typ := range []tensor.DType{tensor.IQ4_NL, tensor.IQ4_XS, tensor.IQ3_XXS, tensor.IQ3_S,
		tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_S, tensor.IQ1_M} {
		q := make([]byte, mustRowBytes(t, typ, len(x)))
		_ = quant.QuantizeRows(typ, x, len(x), w, q) // builds the lattice
		if n := testing.AllocsPerRun(2, func() { _ = quant.QuantizeRows(typ, x, len(x), w, q) }); n != 0 {
			t.Errorf("QuantizeRows(%v) allocates %v times per row", typ, n)
		}
		y := make([]float32, len(x))
		if n := testing.AllocsPerRun(2, func() { _ = quant.Dequantize(typ, q, y) }); n != 0 {
			t.Errorf("Dequantize(%v) allocates %v times per row", typ, n)
		}
	}
}
