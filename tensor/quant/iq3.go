package quant

import "github.com/mlmf-run/mlmf-run/tensor"

// IQ3_XXS and IQ3_S: groups of 4 magnitudes snapped to a 256- or 512-point
// lattice of odd levels 1..15, signs stored apart, a 4-bit scale per 32
// elements. ggml's quantize_iq3_xxs and quantize_iq3_s, with or without an
// imatrix.

func init() {
	rowQuantizers[tensor.IQ3_XXS] = quantRowIQ3XXS
	rowQuantizers[tensor.IQ3_S] = quantRowIQ3S
}

const groupMaxEpsIQ3XXS float32 = 1e-8

// iqWeights fills weight (imatrix times sqrt(sigma2 + x²), or x² without
// one) and waux, its square roots, for the group x.
func iqWeights(x, qw, weight, waux []float32, sigma2 float32) {
	for i, v := range x {
		if qw != nil {
			weight[i] = float32(qw[i] * sqrt32(sigma2+float32(v*v)))
		} else {
			weight[i] = float32(v * v)
		}
		waux[i] = sqrt32(weight[i])
	}
}

// cmax is C's MAX(a, b) macro, a > b ? a : b: b when either is NaN.
func cmax(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}

// maxOf folds cmax over x from x[0], as ggml's loops do.
func maxOf(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		m = cmax(m, v)
	}
	return m
}

// sumSquares is Σx² in ggml's order.
func sumSquares(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s
}

// weightsAt is w[off:off+n], or nil when there are no weights.
func weightsAt(w []float32, off, n int) []float32 {
	if w == nil {
		return nil
	}
	return w[off : off+n]
}

// splitSigns puts |x| in xval and x's signs in signs, a bit per value (set
// for negative, and for NaN, as ggml's x >= 0 test does), a byte per 8.
func splitSigns(x, xval []float32, signs []uint8) {
	xval = xval[:len(x)]
	for i, v := range x {
		xval[i] = v
		if !(v >= 0) {
			xval[i] = -v
			signs[i/8] |= 1 << (i % 8)
		}
	}
}

// oddLevel is ggml's nearest_int(0.5f*(id*x-1)) clamped to [0, nmax-1]:
// the level l whose odd value 2l+1 is nearest id·x.
func oddLevel(id, x float32, nmax int32) int8 {
	return int8(clamp(nearestInt(float32(0.5*float32(float32(id*x)-1))), 0, nmax-1))
}

// oddFit is Σw·x·q and Σw·q² for the odd values q = 2L+1.
func oddFit(x, w []float32, L []int8) (sumqx, sumq2 float32) {
	for i, v := range x {
		q := float32(2*int32(L[i]) + 1)
		sumqx += float32(float32(w[i]*v) * q)
		sumq2 += float32(float32(w[i]*q) * q)
	}
	return sumqx, sumq2
}

var (
	searchIQ3XXS = searchParams{center: 15, step: 0.2, isMax: 15, skipOn: true, refitOn: true}
	searchIQ3S   = searchParams{center: 15, step: 0.2, isMax: 9, skipOn: false, refitOn: false}
)

// evenSigns splits 8 values into magnitudes and sign bits, as IQ2_XXS,
// IQ2_XS and IQ3_XXS store them: 7 bits, the eighth implied by even parity.
// With an odd count of negatives, the value of least w·x² has its sign
// flipped (so its magnitude goes negative).
func evenSigns(x, weight, xval []float32) uint8 {
	var s uint8
	nflip := 0
	for i, v := range x[:8] {
		if v >= 0 {
			xval[i] = v
		} else {
			xval[i] = -v
			nflip++
			s |= 1 << i
		}
	}
	if nflip%2 == 1 {
		imin, min := 0, float32(float32(weight[0]*x[0])*x[0])
		for i := 1; i < 8; i++ {
			if ax := float32(float32(weight[i]*x[i]) * x[i]); ax < min {
				min, imin = ax, i
			}
		}
		xval[imin] = -xval[imin]
		s ^= 1 << imin
	}
	return s & 127
}

// IQ3_XXS block: d (fp16), qs[64] (grid indices per 4), then per 32 a uint32:
// four 7-bit sign groups and a 4-bit scale on top.
func quantRowIQ3XXS(x, w []float32, b []byte) {
	lat := lattice(latIQ3XXS)
	var weight, waux, xval [32]float32
	var L [32]int8
	var scales [8]float32
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xs, y := x[qkK*ibl:qkK*ibl+qkK], b[98*ibl:98*ibl+98]
		clear(y)
		sigma2 := float32(2*sumSquares(xs)) / qkK
		var maxScale float32
		for ib := range scales {
			xb := xs[32*ib : 32*ib+32]
			iqWeights(xb, weightsAt(w, qkK*ibl+32*ib, 32), weight[:], waux[:], sigma2)
			var signs [4]uint8
			for k := range signs {
				signs[k] = evenSigns(xb[8*k:], weight[8*k:], xval[8*k:])
			}
			max := maxOf(xval[:])
			if max < groupMaxEpsIQ3XXS {
				scales[ib] = 0
				continue
			}
			clear(L[:])
			scale := lat.search(searchIQ3XXS, xval[:], weight[:], waux[:], L[:], max)
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			for k := 0; k < 8; k++ {
				y[2+8*ib+k] = uint8(lat.gridIndex(L[4*k:]))
			}
			le.PutUint32(y[2+64+4*ib:], uint32(signs[0])|uint32(signs[1])<<7|uint32(signs[2])<<14|uint32(signs[3])<<21)
			scales[ib] = scale
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			clear(y)
			continue
		}
		d := maxScale / 31
		le.PutUint16(y, fp16(float32(d*1.0125)))
		id := 1 / d
		for ib, s := range scales {
			p := y[2+64+4*ib:]
			le.PutUint32(p, le.Uint32(p)|packScale(id, s)<<28)
		}
	}
}

// IQ3_S block: d (fp16), qs[64] (low 8 bits of the grid indices), qh[8]
// (their ninth bits), signs[32] (a bit per value), scales[4] (a nibble per
// 32).
func quantRowIQ3S(x, w []float32, b []byte) {
	lat := lattice(latIQ3S)
	var weight, waux, xval [32]float32
	var L [32]int8
	var scales [8]float32
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xs, y := x[qkK*ibl:qkK*ibl+qkK], b[110*ibl:110*ibl+110]
		clear(y)
		qs, qh, signs := y[2:66], y[66:74], y[74:106]
		sigma2 := float32(2*sumSquares(xs)) / qkK
		var maxScale float32
		for ib := range scales {
			xb := xs[32*ib : 32*ib+32]
			iqWeights(xb, weightsAt(w, qkK*ibl+32*ib, 32), weight[:], waux[:], sigma2)
			var bsigns [4]uint8
			splitSigns(xb, xval[:], bsigns[:])
			max := maxOf(xval[:])
			clear(L[:])
			if max == 0 {
				// ggml skips the group without advancing qs and signs:
				// the next group's land where this one's would have.
				scales[ib] = 0
				continue
			}
			scale := lat.search(searchIQ3S, xval[:], weight[:], waux[:], L[:], max)
			if scale < 0 {
				scale = -scale
				for k := range bsigns {
					bsigns[k] = ^bsigns[k]
				}
			}
			for k := 0; k < 8; k++ {
				g := lat.gridIndex(L[4*k:])
				qs[k] = uint8(g)
				qh[(ib*8+k)/8] |= uint8(g>>8) << ((ib*8 + k) % 8)
			}
			qs = qs[8:]
			copy(signs, bsigns[:])
			signs = signs[4:]
			scales[ib] = scale
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		le.PutUint16(y, fp16(float32(d*1.033)))
		id := 1 / d
		for ib := 0; ib < 8; ib += 2 {
			y[106+ib/2] = uint8(packScale(id, scales[ib]) | packScale(id, scales[ib+1])<<4)
		}
	}
}
