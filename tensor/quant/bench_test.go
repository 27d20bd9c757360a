package quant_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

// benchMatrix is a 4096×4096 float32 matrix of normally distributed weights
// (scaled like a trained layer), built once, when a benchmark first needs it
// (BenchmarkQuantizeSmall under callgrind does not).
var benchMatrix = sync.OnceValue(func() []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 4096*4096)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	return x
})

// BenchmarkQuantize reports MB/s of float32 input, one goroutine, for each
// type llama-quantize's mixes use.
func BenchmarkQuantize(b *testing.B) {
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1,
		tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			x := benchMatrix()
			nb := mustRowBytes(b, typ, len(x))
			q := make([]byte, nb)
			b.SetBytes(int64(4 * len(x)))
			b.ResetTimer()
			for b.Loop() {
				if err := quant.Quantize(typ, x, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuantizeSmall quantizes 64 rows of 4096 weights of the same
// distribution: small enough to count instructions under callgrind, which
// are repeatable on a shared machine where timings are not
// (scripts/callgrind-quant.sh).
func BenchmarkQuantizeSmall(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 64*4096)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			q := make([]byte, mustRowBytes(b, typ, len(x)))
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				if err := quant.Quantize(typ, x, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDequantize reports MB/s of float32 output.
func BenchmarkDequantize(b *testing.B) {
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			x := benchMatrix()
			nb := mustRowBytes(b, typ, len(x))
			q := make([]byte, nb)
			if err := quant.Quantize(typ, x, q); err != nil {
				b.Fatal(err)
			}
			y := make([]float32, len(x))
			b.SetBytes(int64(4 * len(x)))
			b.ResetTimer()
			for b.Loop() {
				if err := quant.Dequantize(typ, q, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConvertBF16 is a quantize stage's inner loop as a run sees it:
// tensor.Convert decoding BF16 rows of 4096 and quantizing them, chunks of
// 256 rows as the executor reads them. MB/s of BF16 input, one goroutine.
func BenchmarkConvertBF16(b *testing.B) {
	const rowLen, rows = 4096, 256
	src := make([]byte, 2*rowLen*rows)
	for i, v := range benchMatrix()[:rowLen*rows] {
		src[2*i], src[2*i+1] = byte(tensor.BF16Bits(v)), byte(tensor.BF16Bits(v)>>8)
	}
	for _, typ := range []tensor.DType{tensor.F32, tensor.Q8_0, tensor.Q4_K} {
		b.Run(typ.String(), func(b *testing.B) {
			c, err := tensor.Convert(&tensor.Bytes{Data: src, RowBytes: 2 * rowLen, What: "bench"}, tensor.BF16, typ, rowLen)
			if err != nil {
				b.Fatal(err)
			}
			rb := mustRowBytes(b, typ, rowLen)
			dst := make([]byte, rows*rb)
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.ReadRows(0, rows, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuantizeRowsSmall quantizes 16 rows of 4096 weights of every
// legacy, k-quant and IQ type, with importance weights ("imatrix", ggml's
// quantize_row_<type>_impl) and without ("ref"): small enough for
// callgrind, whose counts compare two versions of the kernels on a shared
// machine (TYPES="Q4_K/imatrix" BENCH=BenchmarkQuantizeRowsSmall
// scripts/callgrind-quant.sh).
func BenchmarkQuantizeRowsSmall(b *testing.B) {
	const n = 4096
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 16*n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(0.5 + r.Float64())
	}
	for _, typ := range []tensor.DType{tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1,
		tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K,
		tensor.IQ4_NL, tensor.IQ4_XS, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S,
		tensor.IQ1_S, tensor.IQ1_M} {
		modes := []string{"imatrix", "ref"}
		if quant.NeedsImportance(typ) {
			modes = modes[:1]
		}
		for _, mode := range modes {
			b.Run(typ.String()+"/"+mode, func(b *testing.B) {
				q := make([]byte, mustRowBytes(b, typ, len(x)))
				ww := w
				if mode == "ref" {
					ww = nil
				}
				b.SetBytes(int64(4 * len(x)))
				for b.Loop() {
					if err := quant.QuantizeRows(typ, x, n, ww, q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
