package quant_test

import (
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

// BenchmarkQuantizeRowsIQ reports MB/s of float32 input, one goroutine, for
// the IQ types with importance weights (the first 1024 rows of benchMatrix;
// the lattices are built before timing).
func BenchmarkQuantizeRowsIQ(b *testing.B) {
	const n = 4096
	x := benchMatrix()[:1024*n]
	w := make([]float32, n)
	for i := range w {
		w[i] = 1 + float32(i%7)
	}
	for _, typ := range []tensor.DType{tensor.IQ4_NL, tensor.IQ4_XS, tensor.IQ3_XXS, tensor.IQ3_S,
		tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_S, tensor.IQ1_M} {
		b.Run(typ.String(), func(b *testing.B) {
			q := make([]byte, mustRowBytes(b, typ, len(x)))
			if err := quant.QuantizeRows(typ, x[:n], n, w, q[:len(q)/1024]); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(4 * len(x)))
			b.ResetTimer()
			for b.Loop() {
				if err := quant.QuantizeRows(typ, x, n, w, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
