//go:build !purego

package quant

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestQuantizeLanesMatchGo quantizes whole blocks of every type with
// assembly paths both ways, with the assembly and with the Go code alone (as
// without AVX2), and wants the same bytes: the glue around the kernels (the
// groups that take the Go search, the scale packing, the re-quantization)
// is covered too, not only the kernels.
func TestQuantizeLanesMatchGo(t *testing.T) {
	if !haveLanes {
		t.Skip("no AVX2 here: the Go code runs alone")
	}
	n := 2_000 // super-blocks per distribution and type
	if testing.Short() || raceEnabled {
		n = 100
	}
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K} {
		for di, d := range qkx2Dists {
			t.Run(typ.String()+"/"+d.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(di), 3))
				x := make([]float32, n*qkK)
				for g := 0; g < len(x); g += 32 {
					gen := d.gen
					if g%96 == 0 {
						gen = qkx2Dists[r.IntN(len(qkx2Dists))].gen
					}
					gen(r, x[g:g+32])
				}
				nb, err := typ.RowBytes(int64(len(x)))
				if err != nil {
					t.Fatal(err)
				}
				got, want := make([]byte, nb), make([]byte, nb)
				if err := Quantize(typ, x, got); err != nil {
					t.Fatal(err)
				}
				haveLanes = false
				err = Quantize(typ, x, want)
				haveLanes = true
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					bb := int(typ.Info().BlockBytes)
					for i := 0; i < len(got); i += bb {
						if !bytes.Equal(got[i:i+bb], want[i:i+bb]) {
							t.Fatalf("block %d: got %v, want %v", i/bb, got[i:i+bb], want[i:i+bb])
						}
					}
				}
			})
		}
	}
}

// TestQuantizeIQ4LanesMatchGo is TestQuantizeLanesMatchGo for IQ4_NL and
// IQ4_XS rows, with an importance matrix and without, in rows whose block
// count is not a multiple of eight (IQ4_NL's last blocks take iq4Group).
func TestQuantizeIQ4LanesMatchGo(t *testing.T) {
	if !haveLanes {
		t.Skip("no AVX2 here: the Go code runs alone")
	}
	n := 1_000 // rows per distribution, type and weighting
	if testing.Short() || raceEnabled {
		n = 50
	}
	const cols = 5 * qkK // 40 IQ4_NL blocks a row; then 3*qkK+96: 27
	for _, typ := range []tensor.DType{tensor.IQ4_NL, tensor.IQ4_XS} {
		for di, d := range qkx2Dists {
			for _, imatrix := range []bool{false, true} {
				name := typ.String() + "/" + d.name
				if imatrix {
					name += "/imatrix"
				}
				t.Run(name, func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(di), 5))
					ncols := cols
					if typ == tensor.IQ4_NL && di%2 == 1 {
						ncols = 3*qkK + 96
					}
					x := make([]float32, n*ncols)
					for g := 0; g < len(x); g += 32 {
						gen := d.gen
						if g%96 == 0 {
							gen = qkx2Dists[r.IntN(len(qkx2Dists))].gen
						}
						gen(r, x[g:g+32])
					}
					var w []float32
					if imatrix {
						w = make([]float32, ncols)
						for i := range w {
							w[i] = float32(r.ExpFloat64())
						}
					}
					nb, err := typ.RowBytes(int64(len(x)))
					if err != nil {
						t.Fatal(err)
					}
					got, want := make([]byte, nb), make([]byte, nb)
					if err := QuantizeRows(typ, x, ncols, w, got); err != nil {
						t.Fatal(err)
					}
					haveLanes = false
					err = QuantizeRows(typ, x, ncols, w, want)
					haveLanes = true
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						bb := int(typ.Info().BlockBytes)
						for i := 0; i < len(got); i += bb {
							if !bytes.Equal(got[i:i+bb], want[i:i+bb]) {
								t.Fatalf("block %d: got %v, want %v", i/bb, got[i:i+bb], want[i:i+bb])
							}
						}
					}
				})
			}
		}
	}
}
