package quant

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestIQ4EightMatchesGroup checks the eight-lane IQ4 search against
// iq4Group bit for bit (every scale) on groups from qkx2Dists, mixed every
// third super-block, with the weights of a run without an imatrix (x²) and
// with one (random positive importances, zeros and huge ones among them).
func TestIQ4EightMatchesGroup(t *testing.T) {
	if !haveLanes {
		t.Skip("no eight-lane search on this machine (AVX2) or build (purego): iq4Group runs alone")
	}
	n := 20_000 // super-blocks per distribution and weighting: 160k groups each
	if testing.Short() || raceEnabled {
		n = 1_000
	}
	for di, d := range qkx2Dists {
		for _, imatrix := range []bool{false, true} {
			name := d.name + "/x2"
			if imatrix {
				name = d.name + "/imatrix"
			}
			t.Run(name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(di), 4))
				var x, w, qw [qkK]float32
				var sigma2, got [8]float32
				var L [32]uint8
				fails := 0
				for k := range n {
					for g := range 8 {
						gen := d.gen
						if k%3 == 0 {
							gen = qkx2Dists[r.IntN(len(qkx2Dists))].gen
						}
						gen(r, x[32*g:32*g+32])
					}
					var q []float32
					if imatrix {
						q = qw[:]
						for i := range qw {
							switch r.IntN(50) {
							case 0:
								qw[i] = 0
							case 1:
								qw[i] = float32(r.ExpFloat64() * 1e30)
							default:
								qw[i] = float32(r.ExpFloat64())
							}
						}
					}
					for g := range 8 { // IQ4_XS's sigma2 (one per 256) or IQ4_NL's (per 32)
						sigma2[g] = meanSquare2(x[:])
						if k%2 == 1 {
							sigma2[g] = meanSquare2(x[32*g : 32*g+32])
						}
					}
					iq4Eight(&x, q, &sigma2, &got)
					for g := range 8 {
						iq4Weights(x[32*g:32*g+32], weightsAt(q, 32*g, 32), w[:32], sigma2[g])
						want := iq4Group(x[32*g:32*g+32], w[:32], L[:])
						if math.Float32bits(got[g]) != math.Float32bits(want) {
							t.Errorf("x=%v w=%v: got scale %v, want %v", x[32*g:32*g+32], w[:32], got[g], want)
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

// TestIQ4PackMatchesBestIndex checks the AVX2 codes against bestIndexInt8
// for every element, on groups from qkx2Dists times inverse scales from
// their own maxima (as the quantizers use them) and from anywhere, ties,
// infinities and NaNs among them.
func TestIQ4PackMatchesBestIndex(t *testing.T) {
	if !haveLanes {
		t.Skip("no AVX2 here: bestIndexInt8 runs alone")
	}
	r := rand.New(rand.NewPCG(7, 7))
	var x [32]float32
	var got [16]byte
	n := 200_000
	if testing.Short() || raceEnabled {
		n = 10_000
	}
	for k := range n {
		qkx2Dists[k%len(qkx2Dists)].gen(r, x[:])
		var id float32
		switch k % 4 {
		case 0:
			id = float32(r.NormFloat64() * 1000)
		case 1: // codebook values and midpoints exactly
			id = 1
			for j := range x {
				a, b := kvaluesIQ4NL[r.IntN(16)], kvaluesIQ4NL[r.IntN(16)]
				x[j] = (float32(a) + float32(b)) / 2
			}
		default:
			var amax float32
			for _, v := range x {
				amax = max(amax, abs32(v))
			}
			id = float32(r.IntN(15)+120) / amax
		}
		iq4Pack(&x, id, &got)
		for j := range 16 {
			want := bestIndexInt8(&kvaluesIQ4NL, float32(id*x[j])) | bestIndexInt8(&kvaluesIQ4NL, float32(id*x[16+j]))<<4
			if got[j] != want {
				t.Fatalf("x=%v id=%v: byte %d is %#x, want %#x", x, id, j, got[j], want)
			}
		}
	}
}
