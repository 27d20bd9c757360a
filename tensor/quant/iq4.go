package quant

import (
	"math"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// IQ4_NL and IQ4_XS: 4-bit codes into the non-linear codebook kvaluesIQ4NL,
// one scale per 32 elements (IQ4_NL stores it as fp16, IQ4_XS as a 6-bit
// multiple of a per-256 fp16). ggml's quantize_iq4_nl/quantize_iq4_xs (what
// llama-quantize runs, with or without an imatrix) search 15 trial scales
// per group; its quantize_row_iq4_nl_ref does not, so neither type has a
// block codec that would write what llama-quantize writes.

func init() {
	rowQuantizers[tensor.IQ4_NL] = quantRowIQ4NL
	rowQuantizers[tensor.IQ4_XS] = quantRowIQ4XS
}

// bestIndexInt8 is ggml's best_index_int8 for the IQ4_NL codebook: the code
// of the value nearest x (the lower on ties, by ggml's float differences).
// ggml bisects; since the codebook values are integers, x < val[j] exactly
// when floor(x) < val[j], so the bracketing pair comes from a table indexed
// by floor(x) instead (the same pair, without four unpredictable branches).
func bestIndexInt8(val *[16]int8, x float32) uint8 {
	if x <= float32(val[0]) {
		return 0
	}
	if !(x < float32(val[15])) { // x >= val[15], or NaN: ggml's bisection ends at 15 too
		return 15
	}
	mu := iq4Upper[int(math.Floor(float64(x)))-int(kvaluesIQ4NL[0])]
	if x-float32(val[mu-1]) < float32(val[mu])-x {
		return mu - 1
	}
	return mu
}

// iq4Upper[k-val[0]] is the first code whose value exceeds the integer k,
// for val[0] <= k < val[15]: where ggml's bisection of the codebook ends.
var iq4Upper = func() (t [int(113) - int(-127)]uint8) {
	for k := range t {
		mu := uint8(1)
		for int(kvaluesIQ4NL[mu]) <= k+int(kvaluesIQ4NL[0]) {
			mu++
		}
		t[k] = mu
	}
	return t
}()

// iq4Group is quantize_row_iq4_nl_impl's search for one group of 32 (ntry
// 7): the scale of the signed maximum, refined by least squares, then 15
// trial inverse scales around it. It returns the group's scale and leaves its
// codes for that scale in L. iq4Eight runs eight at once.
func iq4Group(x, weight []float32, L []uint8) float32 {
	var amax, max float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, max = a, v
		}
	}
	if amax < groupMaxEps {
		return 0
	}
	vals := &kvaluesIQ4NL
	d := -max / float32(vals[0])
	id := 1 / d
	var sumqx, sumq2 float32
	for j, v := range x {
		l := bestIndexInt8(vals, float32(id*v))
		L[j] = l
		q, w := float32(vals[l]), weight[j]
		sumqx += float32(float32(w*q) * v)
		sumq2 += float32(float32(w*q) * q)
	}
	d = 0
	if sumq2 > 0 {
		d = sumqx / sumq2
	}
	best := float32(d * sumqx)
	for itry := -7; itry <= 7; itry++ {
		id = float32(itry+int(vals[0])) / max
		sumqx, sumq2 = 0, 0
		for j, v := range x {
			q, w := float32(vals[bestIndexInt8(vals, float32(id*v))]), weight[j]
			sumqx += float32(float32(w*q) * v)
			sumq2 += float32(float32(w*q) * q)
		}
		if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
			d = sumqx / sumq2
			best = float32(d * sumqx)
		}
	}
	return d
}

// iq4Weights fills weight for group x: the imatrix entry times
// sqrt(sigma2 + x²) with sigma2 twice the mean square of the whole block, or
// x² without an imatrix.
func iq4Weights(x, qw, weight []float32, sigma2 float32) {
	for j, v := range x {
		if qw != nil {
			weight[j] = float32(qw[j] * sqrt32(sigma2+float32(v*v)))
		} else {
			weight[j] = float32(v * v)
		}
	}
}

// meanSquare2 is the sigma2 of ggml's IQ searches: 2·Σx²/len(x).
func meanSquare2(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return float32(s * (2 / float32(len(x))))
}

// IQ4_NL block: d (fp16), qs[16] (element j in the low nibble of byte j,
// element j+16 in its high nibble).
func quantRowIQ4NL(x, w []float32, b []byte) {
	var L [qk]uint8
	var weight [qk]float32
	var sigma2, d [8]float32
	nb := len(x) / qk
	for ib0 := 0; ib0 < nb; ib0 += 8 {
		n := min(8, nb-ib0) // blocks searched together: eight lanes of iq4Eight
		for k := range n {
			sigma2[k] = meanSquare2(x[qk*(ib0+k) : qk*(ib0+k)+qk])
		}
		if n == 8 {
			iq4Eight((*[qkK]float32)(x[qk*ib0:]), weightsAt(w, qk*ib0, qkK), &sigma2, &d)
		} else {
			for k := range n {
				ib := ib0 + k
				xb := x[qk*ib : qk*ib+qk]
				iq4Weights(xb, weightsAt(w, qk*ib, qk), weight[:], sigma2[k])
				d[k] = iq4Group(xb, weight[:], L[:])
			}
		}
		for k := range n {
			ib := ib0 + k
			y := b[18*ib : 18*ib+18]
			le.PutUint16(y, fp16(d[k]))
			iq4Pack((*[qk]float32)(x[qk*ib:]), inverse(d[k]), (*[16]byte)(y[2:]))
		}
	}
}

// IQ4_XS block: d (fp16), scales_h (two high bits of each group's 6-bit
// scale), scales_l[4] (its low nibbles), qs[128] (nibbles as in IQ4_NL, per
// group of 32).
func quantRowIQ4XS(x, w []float32, b []byte) {
	var scales, sigma2 [8]float32
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xs, y := x[qkK*ibl:qkK*ibl+qkK], b[136*ibl:136*ibl+136]
		s2 := meanSquare2(xs)
		for ib := range sigma2 {
			sigma2[ib] = s2
		}
		iq4Eight((*[qkK]float32)(xs), weightsAt(w, qkK*ibl, qkK), &sigma2, &scales)
		var maxScale, amaxScale float32
		for ib := range scales {
			if a := abs32(scales[ib]); a > amaxScale {
				amaxScale, maxScale = a, scales[ib]
			}
		}
		d := -maxScale / 32
		le.PutUint16(y, fp16(d))
		id := inverse(d)
		var sh uint16
		clear(y[4:8])
		for ib, s := range scales {
			l := clamp(nearestInt(float32(id*s)), -32, 31)
			idl := inverse(float32(d * float32(l)))
			iq4Pack((*[32]float32)(xs[32*ib:]), idl, (*[16]byte)(y[8+16*ib:]))
			l += 32
			y[4+ib/2] |= uint8(l&0xf) << (4 * (ib % 2))
			sh |= uint16(l>>4) << (2 * ib)
		}
		le.PutUint16(y[2:], sh)
	}
}
