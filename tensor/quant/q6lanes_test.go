package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestQ6SixteenMatchesGeneric checks the eight-lane Q6_K search against the
// generic make_qx_quants port bit for bit (scale bits and every level) on
// super-blocks whose sub-blocks come from one of q6Dists or, every third
// block, from several.
func TestQ6SixteenMatchesGeneric(t *testing.T) {
	if !haveLanes {
		t.Skip("no eight-lane search on this machine (AVX2) or build (purego): makeQ6Quants runs alone")
	}
	n := 20_000 // super-blocks per distribution: 3.2M sub-blocks in all
	if testing.Short() || raceEnabled {
		n = 1_000
	}
	for di, d := range q6Dists {
		t.Run(d.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(di), 16))
			var x [qkK]float32
			var got [qkK]int8
			var want [16]int8
			var scales [16]float32
			fails := 0
			for k := range n {
				for ib := range 16 {
					gen := d.gen
					if k%3 == 0 {
						gen = q6Dists[r.IntN(len(q6Dists))].gen
					}
					gen(r, (*[16]float32)(x[16*ib:]))
				}
				q6Sixteen(&x, &got, &scales)
				for ib := range 16 {
					ws := makeQXQuants(x[16*ib:16*ib+16], want[:], 32)
					if math.Float32bits(scales[ib]) != math.Float32bits(ws) || [16]int8(got[16*ib:]) != want {
						t.Errorf("x=%v: got scale %v levels %v, want %v %v", x[16*ib:16*ib+16], scales[ib], got[16*ib:16*ib+16], ws, want)
						if fails++; fails == 5 {
							t.FailNow()
						}
					}
				}
			}
		})
	}
}
