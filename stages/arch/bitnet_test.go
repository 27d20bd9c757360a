package arch

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestTorchSum: sum(|x|) of x_k = float32((7919k mod 1001) - 500) x
// float32(1e-4) as Debian's torch 1.13 computes it on an AVX2 machine with
// one thread (x.abs().sum(), the float32 bits printed by torch), which a
// float64 sum rounded once misses for n = 37 and 8192. The sizes cover the
// scalar tail, leftover vectors and the cascade's levels.
func TestTorchSum(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want uint32
	}{{37, 0x3f7923a1}, {100, 0x401f295e}, {4096, 0x42cd16c8}, {8192, 0x434d0d64}, {300007, 0x45ea9d40}} {
		b := make([]byte, 4*c.n)
		for k := int64(0); k < c.n; k++ {
			v := float32((k*7919)%1001-500) * float32(0.0001)
			binary.LittleEndian.PutUint32(b[4*k:], math.Float32bits(v))
		}
		d := &tensor.Desc{Name: "x", DType: tensor.F32, Shape: []int64{c.n}}
		d.Src = &tensor.Bytes{Data: b, RowBytes: 4 * c.n, What: "x"}
		got, err := torchSum(d)
		if err != nil {
			t.Fatal(err)
		}
		if math.Float32bits(got) != c.want {
			t.Errorf("n = %d: %#08x (%v), want torch's %#08x", c.n, math.Float32bits(got), got, c.want)
		}
	}
}

// TestBitnetTernary: each weight becomes -s, 0 or s with s the mean
// magnitude (here 2.5: |x| = 1..4), rounding half to even (x/s = 0.4 -> 0,
// 0.8 -> 1), in float32 for a BF16 input.
func TestBitnetTernary(t *testing.T) {
	d := asDType(t, mk("w", 1, 2, 2), tensor.BF16) // 1 2 3 4
	out, err := bitnetTernary(nil, d, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.DType != tensor.F32 {
		t.Fatalf("dtype %v, want F32", out.DType)
	}
	got := floats(t, out)
	for i, want := range []float32{0, 2.5, 2.5, 2.5} {
		if got[i] != want {
			t.Errorf("element %d = %v, want %v", i, got[i], want)
		}
	}
}
