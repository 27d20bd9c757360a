package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bisectIndexInt8 is ggml's best_index_int8 as written (a bisection).
func bisectIndexInt8(n int, val []int8, x float32) int {
	if x <= float32(val[0]) {
		return 0
	}
	if x >= float32(val[n-1]) {
		return n - 1
	}
	ml, mu := 0, n-1
	for mu-ml > 1 {
		mav := (ml + mu) / 2
		if x < float32(val[mav]) {
			mu = mav
		} else {
			ml = mav
		}
	}
	if x-float32(val[mu-1]) < float32(val[mu])-x {
		return mu - 1
	}
	return mu
}

// TestBestIndexInt8 checks the table lookup against ggml's bisection on every
// float32 near each codebook value and each midpoint, on tiny, huge and
// non-finite values, and on random bit patterns.
func TestBestIndexInt8(t *testing.T) {
	check := func(x float32) {
		if got, want := int(bestIndexInt8(&kvaluesIQ4NL, x)), bisectIndexInt8(16, kvaluesIQ4NL[:], x); got != want {
			t.Fatalf("x=%g (%#08x): %d, ggml %d", x, math.Float32bits(x), got, want)
		}
	}
	for i := range kvaluesIQ4NL {
		for _, c := range []float32{float32(kvaluesIQ4NL[i]), (float32(kvaluesIQ4NL[i]) + float32(kvaluesIQ4NL[min(i+1, 15)])) / 2} {
			b := math.Float32bits(c)
			for d := uint32(0); d < 4096; d++ {
				check(math.Float32frombits(b + d))
				check(math.Float32frombits(b - d))
			}
		}
	}
	for _, x := range []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, 1e-10, -1e-10, 3e38, -3e38,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 112.99999, -126.99999} {
		check(x)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 1 << 20 {
		check(math.Float32frombits(r.Uint32()))
		check(float32(r.NormFloat64() * 80))
	}
}
