package quant_test

import (
	"math/rand/v2"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

// benchMatrix is a 4096×4096 float32 matrix of normally distributed weights
// (scaled like a trained layer), built once.
var benchMatrix = func() []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 4096*4096)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	return x
}()

// BenchmarkQuantize reports MB/s of float32 input, one goroutine, for each
// type llama-quantize's mixes use.
func BenchmarkQuantize(b *testing.B) {
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1,
		tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			x := benchMatrix
			nb, _ := typ.RowBytes(int64(len(x)))
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

// BenchmarkDequantize reports MB/s of float32 output.
func BenchmarkDequantize(b *testing.B) {
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K} {
		b.Run(typ.String(), func(b *testing.B) {
			x := benchMatrix
			nb, _ := typ.RowBytes(int64(len(x)))
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
