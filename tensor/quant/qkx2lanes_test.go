package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// qkx2Dists generate 32-weight groups for make_qkx2_quants: trained-layer
// shapes, heavy tails, groups of one sign (the min clamped to zero), flat
// groups, values on a grid (exact fits, ties between steps), extreme
// magnitudes, and non-finite values.
var qkx2Dists = []struct {
	name string
	gen  func(r *rand.Rand, x []float32)
}{
	{"normal", func(r *rand.Rand, x []float32) {
		s := math.Exp(r.NormFloat64() * 3)
		for i := range x {
			x[i] = float32(r.NormFloat64() * s)
		}
	}},
	{"layer", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(r.NormFloat64() * 0.02)
		}
	}},
	{"bf16", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = math.Float32frombits(math.Float32bits(float32(r.NormFloat64()*0.05)) &^ 0xffff)
		}
	}},
	{"uniform", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(r.Float64()*2 - 1)
		}
	}},
	{"positive", func(r *rand.Rand, x []float32) {
		off := r.Float64() * 3
		for i := range x {
			x[i] = float32(off + r.Float64())
		}
	}},
	{"negative", func(r *rand.Rand, x []float32) {
		off := r.Float64() * 3
		for i := range x {
			x[i] = -float32(off + r.Float64())
		}
	}},
	{"cauchy", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(math.Tan(math.Pi * (r.Float64() - 0.5)))
		}
	}},
	{"outlier", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = float32(r.NormFloat64() * 0.01)
		}
		x[r.IntN(len(x))] = float32(r.NormFloat64() * 10)
	}},
	{"zeros", func(r *rand.Rand, x []float32) {
		for i := range x {
			x[i] = 0
			if r.IntN(6) == 0 {
				x[i] = float32(r.NormFloat64())
			}
		}
	}},
	{"flat", func(r *rand.Rand, x []float32) {
		v := float32(r.NormFloat64())
		if r.IntN(2) == 0 {
			v = 0
		}
		for i := range x {
			x[i] = v
		}
	}},
	{"two-values", func(r *rand.Rand, x []float32) {
		a, b := float32(r.NormFloat64()), float32(r.NormFloat64())
		for i := range x {
			x[i] = a
			if r.IntN(2) == 0 {
				x[i] = b
			}
		}
	}},
	{"grid", func(r *rand.Rand, x []float32) {
		step := float32(r.Float64() + 0.01)
		off := float32(r.IntN(8))
		for i := range x {
			x[i] = (float32(r.IntN(16)) - off) * step
			if r.IntN(4) == 0 {
				x[i] = math.Nextafter32(x[i], float32(r.IntN(3)-1)*math.MaxFloat32)
			}
		}
	}},
	{"huge", func(r *rand.Rand, x []float32) {
		s := math.Pow(10, 6+r.Float64()*32)
		for i := range x {
			x[i] = float32(r.NormFloat64() * s)
		}
	}},
	{"tiny", func(r *rand.Rand, x []float32) {
		s := math.Pow(10, -(3 + r.Float64()*42))
		for i := range x {
			x[i] = float32(r.NormFloat64() * s)
		}
	}},
	{"non-finite", func(r *rand.Rand, x []float32) {
		specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0x1p-149, float32(math.Copysign(0, -1))}
		for i := range x {
			x[i] = float32(r.NormFloat64())
			if r.IntN(8) == 0 {
				x[i] = specials[r.IntN(len(specials))]
			}
		}
	}},
}

// qkx2Weights are Q4_K/Q5_K's weights without an importance matrix (rms +
// |x|, as fitQ45 computes them) or, every fourth group, importance-style
// weights with zeros among them.
func qkx2Weights(r *rand.Rand, x, w []float32) {
	if r.IntN(4) == 0 {
		for i, v := range x {
			w[i] = float32(r.ExpFloat64()) * sqrt32(float32(0.01+float32(v*v)))
			if r.IntN(8) == 0 {
				w[i] = 0
			}
		}
		return
	}
	var sumX2 float32
	for _, v := range x {
		sumX2 += float32(v * v)
	}
	avX := sqrt32(sumX2 / float32(len(x)))
	for i, v := range x {
		w[i] = avX + abs32(v)
	}
}

// TestQKX2EightMatchesGeneric checks the eight-lane search against the
// one-group make_qkx2_quants port bit for bit (scale and min bits, every
// level) with Q4_K's and Q5_K's parameters (make_qkx3_quants' with an
// importance matrix too), on super-blocks whose groups
// come from one distribution or, every third block, from several.
func TestQKX2EightMatchesGeneric(t *testing.T) {
	if !haveLanes {
		t.Skip("no eight-lane search on this machine (AVX2) or build (purego): makeQKX2Quants runs alone")
	}
	n := 25_000 // super-blocks per distribution and type: 6M groups in all
	if testing.Short() || raceEnabled {
		n = 1_000
	}
	params := []struct {
		name         string
		nmax         int32
		rmin, rdelta float32
		nstep        int
	}{{"Q4_K", 15, -1, 0.1, 20}, {"Q5_K", 31, -0.5, 0.1, 15},
		{"Q4_K-imatrix", 15, -0.9, 0.05, 36}, {"Q5_K-imatrix", 31, -0.9, 0.05, 36}} // make_qkx3_quants
	for di, d := range qkx2Dists {
		for _, p := range params {
			t.Run(d.name+"/"+p.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(di), uint64(p.nmax)))
				var x [qkK]float32
				var w [8][32]float32
				var got, want [qkK]uint8
				var gs, gm, ws, wm [8]float32
				fails := 0
				for k := range n {
					for g := range 8 {
						gen := d.gen
						if k%3 == 0 {
							gen = qkx2Dists[r.IntN(len(qkx2Dists))].gen
						}
						gen(r, x[32*g:32*g+32])
						qkx2Weights(r, x[32*g:32*g+32], w[g][:])
					}
					qkx2Eight(&x, &w, &got, &gs, &gm, p.nmax, p.rmin, p.rdelta, p.nstep)
					for g := range 8 {
						ws[g] = makeQKX2Quants(x[32*g:32*g+32], w[g][:], want[32*g:], &wm[g], p.nmax, p.rmin, p.rdelta, p.nstep, false)
					}
					for g := range 8 {
						a, b := got[32*g:32*g+32], want[32*g:32*g+32]
						if math.Float32bits(gs[g]) != math.Float32bits(ws[g]) || math.Float32bits(gm[g]) != math.Float32bits(wm[g]) || string(a) != string(b) {
							t.Errorf("group %v w %v: got scale %v min %v levels %v, want %v %v %v", x[32*g:32*g+32], w[g], gs[g], gm[g], a, ws[g], wm[g], b)
							if fails++; fails == 5 {
								t.FailNow()
							}
						}
					}
				}
			})
		}
	}
}
