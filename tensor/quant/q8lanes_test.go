package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestQ8BlockMatchesGo checks the AVX2 Q8_0 block against the Go one bit for
// bit on random blocks of the qkx2 distributions (magnitudes from 10⁻⁴⁵ to
// 10³⁸, ties, flat and non-finite blocks) and on blocks whose products land
// on and next to half-integers.
func TestQ8BlockMatchesGo(t *testing.T) {
	if !haveLanes {
		t.Skip("no AVX2 Q8_0 block on this machine or build (purego): the Go one runs alone")
	}
	n := 100_000 // blocks per distribution: 1.6M in all
	if testing.Short() || raceEnabled {
		n = 5_000
	}
	dists := append(qkx2Dists[:len(qkx2Dists):len(qkx2Dists)], struct {
		name string
		gen  func(r *rand.Rand, x []float32)
	}{"half-integers", func(r *rand.Rand, x []float32) {
		// amax 127 makes d 1 and id 1: every x·id is x itself.
		for i := range x {
			v := float32(r.IntN(255)-127) + 0.5*float32(r.IntN(2))
			for k := r.IntN(3) - 1; k != 0; k = 0 {
				v = math.Nextafter32(v, float32(k)*200)
			}
			x[i] = v
		}
		x[r.IntN(32)] = 127
	}})
	for di, d := range dists {
		t.Run(d.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(di), 8))
			var x [qk]float32
			var got, want [34]byte
			fails := 0
			for range n {
				d.gen(r, x[:])
				quantQ8_0(x[:], got[:])
				quantQ8_0Go(&x, &want)
				if got != want {
					t.Errorf("x=%v: got %v, want %v", x, got, want)
					if fails++; fails == 5 {
						t.FailNow()
					}
				}
			}
		})
	}
}
