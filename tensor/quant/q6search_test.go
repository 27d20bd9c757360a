package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// q6Dists generate 16-weight sub-blocks of the shapes makeQ6Quants must
// handle like makeQXQuants: ordinary weights, ties and rounding boundaries,
// magnitudes whose squares overflow or underflow, and non-finite values.
var q6Dists = []struct {
	name string
	gen  func(r *rand.Rand, x *[16]float32)
}{
	{"normal", func(r *rand.Rand, x *[16]float32) {
		s := math.Exp(r.NormFloat64() * 3)
		for i := range x {
			x[i] = float32(r.NormFloat64() * s)
		}
	}},
	{"uniform", func(r *rand.Rand, x *[16]float32) {
		for i := range x {
			x[i] = float32(r.Float64()*2 - 1)
		}
	}},
	{"cauchy", func(r *rand.Rand, x *[16]float32) {
		for i := range x {
			x[i] = float32(math.Tan(math.Pi * (r.Float64() - 0.5)))
		}
	}},
	{"zeros", func(r *rand.Rand, x *[16]float32) {
		for i := range x {
			x[i] = 0
			if r.IntN(4) == 0 {
				x[i] = float32(r.NormFloat64())
			}
		}
	}},
	{"near-integers", func(r *rand.Rand, x *[16]float32) {
		for i := range x {
			x[i] = float32(r.IntN(65)-32) + float32(r.IntN(7)-3)*0x1p-20
		}
	}},
	{"level-boundaries", func(r *rand.Rand, x *[16]float32) {
		// Values whose trial products land on or next to k+0.5.
		m := float32(r.Float64() + 0.5)
		x[0] = m
		is := float32(r.IntN(19)-9) * 0.1
		for i := 1; i < 16; i++ {
			v := (float32(r.IntN(66)-33) + 0.5) * m / (32 + is)
			for k := r.IntN(5) - 2; k != 0; k -= sign(k) {
				v = math.Nextafter32(v, float32(k)*math.MaxFloat32)
			}
			x[i] = v
		}
	}},
	{"ties-in-max", func(r *rand.Rand, x *[16]float32) {
		m := float32(r.NormFloat64())
		for i := range x {
			x[i] = float32(r.NormFloat64()) * m / 4
		}
		x[r.IntN(16)], x[r.IntN(16)] = m, -m
	}},
	{"huge", func(r *rand.Rand, x *[16]float32) {
		s := math.Pow(10, 15+r.Float64()*23)
		for i := range x {
			x[i] = float32(r.NormFloat64() * s)
		}
	}},
	{"tiny", func(r *rand.Rand, x *[16]float32) {
		s := math.Pow(10, -(10 + r.Float64()*35))
		for i := range x {
			x[i] = float32(r.NormFloat64() * s)
		}
	}},
	{"non-finite", func(r *rand.Rand, x *[16]float32) {
		specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
			math.Float32frombits(0x7fc01234), math.Float32frombits(0xff800001),
			math.Float32frombits(0x7fc00080), math.Float32frombits(0xffc000c0), 0x1p-149, float32(math.Copysign(0, -1))}
		for i := range x {
			x[i] = float32(r.NormFloat64())
			if r.IntN(8) == 0 {
				x[i] = specials[r.IntN(len(specials))]
			}
		}
	}},
}

func sign(k int) int {
	if k < 0 {
		return -1
	}
	return 1
}

// TestMakeQ6QuantsMatchesGeneric checks the Q6_K specialization against the
// generic make_qx_quants port bit for bit (scale bits and every level) on
// random sub-blocks of each distribution.
func TestMakeQ6QuantsMatchesGeneric(t *testing.T) {
	n := 300_000 // per distribution: 3M sub-blocks in all
	if testing.Short() || raceEnabled {
		n = 20_000
	}
	for di, d := range q6Dists {
		t.Run(d.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(di), 6))
			var x [16]float32
			var got, want [16]int8
			fails := 0
			for range n {
				d.gen(r, &x)
				gs := makeQ6Quants(&x, &got)
				ws := makeQXQuants(x[:], want[:], 32)
				if math.Float32bits(gs) != math.Float32bits(ws) || got != want {
					t.Errorf("x=%v: got scale %v levels %v, want %v %v", x, gs, got, ws, want)
					if fails++; fails == 5 {
						t.FailNow()
					}
				}
			}
		})
	}
}
