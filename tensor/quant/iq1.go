package quant

import (
	"math"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// IQ1_S and IQ1_M: vectors of 8 values in {-1, 0, 1} + a shared shift of
// ±1/8, snapped to a 2048-point grid. ggml's quantize_iq1_s (only with an
// imatrix) and quantize_iq1_m. Both find the best three-way split of each
// group's values exhaustively over the values sorted ascending; ggml sorts
// with glibc's qsort, a stable merge sort, so equal values keep their order
// here too.

func init() {
	rowQuantizers[tensor.IQ1_S] = quantRowIQ1S
	rowQuantizers[tensor.IQ1_M] = quantRowIQ1M
}

const (
	groupMaxEpsIQ1S float32 = 1e-12
	groupMaxEpsIQ1M float32 = 1e-7
	iq1Delta        float32 = 0.125
)

var (
	iq1P = [3]float32{-1 + iq1Delta, iq1Delta, 1 + iq1Delta}
	iq1M = [3]float32{-1 - iq1Delta, -iq1Delta, 1 - iq1Delta}
)

// sortedOrder returns the indices of x in ascending order of value, equal
// values in index order (a stable insertion sort; NaN compares equal).
func sortedOrder(x []float32, idx []int) {
	for j := range x {
		i := j
		for i > 0 && x[idx[i-1]] > x[j] {
			idx[i] = idx[i-1]
			i--
		}
		idx[i] = j
	}
}

// iq1Neighbour is ggml's iq1_find_best_neighbour2: among the neighbours of
// the off-grid levels u, the grid point whose values xx[level]·scale are
// nearest x under w (the first on ties). Where no distance is below FLT_MAX
// ggml falls back to a scan that reads out of bounds and then aborts; this
// takes the first neighbour.
func iq1Neighbour(lat *iqLattice, u int, x, w []float32, scale float32, xx *[3]float32, L []int8) int {
	nb := lat.neighbours[-lat.kmap[u]-1:]
	best, gi := float32(math.MaxFloat32), int(nb[1])
	for _, j := range nb[1 : int(nb[0])+1] {
		p := &lat.pos[j]
		var d2 float32
		for i := 0; i < 8; i++ {
			diff := float32(scale*xx[(p[i]-1)/2]) - x[i]
			d2 += float32(float32(w[i]*diff) * diff)
		}
		if d2 < best {
			best, gi = d2, int(j)
		}
	}
	p := &lat.pos[gi]
	for i := 0; i < 8; i++ {
		L[i] = (p[i] - 1) / 2
	}
	return gi
}

// iq1Levels turns the split (i1, i2) of the sorted order into levels 0, 1, 2.
func iq1Levels(idx []int, i1, i2 int, L []int8) {
	for j, i := range idx {
		switch {
		case j < i1:
			L[i] = 0
		case j < i2:
			L[i] = 1
		default:
			L[i] = 2
		}
	}
}

// iq1Grid snaps each 8 levels of L to the grid (xx per vector of 8 given by
// shift), writing the grid indices; it reports whether all were on it.
func iq1Grid(lat *iqLattice, xb, weight []float32, L []int8, scale float32, shift func(k int) *[3]float32, index []int) bool {
	all := true
	for k := range index {
		u := 0
		for j := 0; j < 8; j++ {
			u |= int(L[8*k+j]) << (2 * j)
		}
		if g := lat.index(u); g >= 0 {
			index[k] = g
			continue
		}
		all = false
		index[k] = iq1Neighbour(lat, u, xb[8*k:8*k+8], weight[8*k:8*k+8], scale, shift(k), L[8*k:8*k+8])
	}
	return all
}

// iq1Refit is the least-squares scale of the grid points index.
func iq1Refit(lat *iqLattice, xb, weight []float32, index []int, shift func(k int) *[3]float32, scale float32) float32 {
	var sumqx, sumq2 float32
	for k, g := range index {
		xx := shift(k)
		for j := 0; j < 8; j++ {
			w, q := weight[8*k+j], xx[(lat.pos[g][j]-1)/2]
			sumqx += float32(float32(w*q) * xb[8*k+j])
			sumq2 += float32(float32(w*q) * q)
		}
	}
	if sumqx > 0 && sumq2 > 0 {
		return sumqx / sumq2
	}
	return scale
}

// absMaxOf is ggml's fabsf max fold from the first value (C's MAX).
func absMaxOf(x []float32) float32 {
	m := abs32(x[0])
	for _, v := range x[1:] {
		m = cmax(m, abs32(v))
	}
	return m
}

// iq1sSplit is quantize_row_iq1_s_impl's exhaustive search for the group of
// 32 with sorted order idx: the split (i1, i2) of the sorted values into
// levels 0, 1, 2, the shift (+1: values -1, 0, 1 plus 1/8; -1: minus 1/8)
// and the scale, from prefix sums of w·x and w.
func iq1sSplit(xb, weight []float32, idx []int, max float32) (i1b, i2b, shift int, scale float32) {
	var sumx, sumw [33]float32
	for j, i := range idx {
		sumx[j+1] = sumx[j] + float32(weight[i]*xb[i])
		sumw[j+1] = sumw[j] + weight[i]
	}
	best := float32(-math.MaxFloat32)
	scale, i1b, i2b = max, -1, -1
	for i1 := 0; i1 <= 32; i1++ {
		for i2 := i1; i2 <= 32; i2++ {
			a, m, c := sumx[i1]-sumx[0], sumx[i2]-sumx[i1], sumx[32]-sumx[i2]
			wa, wm, wc := sumw[i1]-sumw[0], sumw[i2]-sumw[i1], sumw[32]-sumw[i2]
			for s, xv := range [2]*[3]float32{&iq1P, &iq1M} {
				sumqx := float32(a*xv[0]) + float32(m*xv[1]) + float32(c*xv[2])
				sumq2 := float32(float32(wa*xv[0])*xv[0]) + float32(float32(wm*xv[1])*xv[1]) + float32(float32(wc*xv[2])*xv[2])
				if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
					scale = sumqx / sumq2
					best = float32(scale * sumqx)
					i1b, i2b, shift = i1, i2, 1-2*s
				}
			}
		}
	}
	return i1b, i2b, shift, scale
}

// IQ1_S block: d (fp16), qs[32] (low 8 bits of the grid indices), qh[8]
// (uint16 per 32: the indices' three high bits, a 3-bit scale, the shift's
// sign on top).
func quantRowIQ1S(x, w []float32, b []byte) {
	lat := lattice(latIQ1S)
	var weight [32]float32
	var L [32]int8
	var idx [32]int
	var index [4]int
	var scales [8]float32
	var shifts [8]int
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xs, y := x[qkK*ibl:qkK*ibl+qkK], b[50*ibl:50*ibl+50]
		clear(y)
		sigma2 := float32(2*sumSquares(xs)) / qkK
		var maxScale float32
		for ib := range scales {
			xb, qw := xs[32*ib:32*ib+32], w[qkK*ibl+32*ib:qkK*ibl+32*ib+32]
			for i, v := range xb {
				weight[i] = float32(qw[i] * sqrt32(sigma2+float32(v*v)))
			}
			max := absMaxOf(xb)
			scales[ib], shifts[ib] = 0, 1
			if max < groupMaxEpsIQ1S {
				continue
			}
			sortedOrder(xb, idx[:])
			besti1, besti2, bestShift, scale := iq1sSplit(xb, weight[:], idx[:], max)
			if besti1 < 0 {
				continue
			}
			iq1Levels(idx[:], besti1, besti2, L[:])
			if scale < 0 {
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale, bestShift = -scale, -bestShift
			}
			xx := &iq1P
			if bestShift != 1 {
				xx = &iq1M
			}
			shift := func(int) *[3]float32 { return xx }
			if !iq1Grid(lat, xb, weight[:], L[:], scale, shift, index[:]) {
				scale = iq1Refit(lat, xb, weight[:], index[:], shift, scale)
			}
			var h uint16
			for k, g := range index {
				y[2+4*ib+k] = uint8(g)
				h |= uint16(g>>8) << (3 * k)
			}
			le.PutUint16(y[34+2*ib:], h)
			scales[ib], shifts[ib] = scale, bestShift
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 15
		le.PutUint16(y, fp16(float32(d*1.125)))
		id := 1 / d
		for ib, s := range scales {
			l := uint16(oddLevel(id, s, 8))
			if shifts[ib] == -1 {
				l |= 8
			}
			p := y[34+2*ib:]
			le.PutUint16(p, le.Uint16(p)|l<<12)
		}
	}
}

// iq1mShift is the value set of vector k (0 or 1) of an IQ1_M group of 16
// under shift code c: bit 1 for the first vector, bit 0 for the second
// (set: minus).
func iq1mShift(c, k int) *[3]float32 {
	if k == 0 && c < 2 || k != 0 && c%2 == 0 {
		return &iq1P
	}
	return &iq1M
}

// iq1mWeights are IQ1_M's weights for the group xb.
func iq1mWeights(xb, qw, weight []float32, sigma2 float32) {
	for i, v := range xb {
		if qw != nil {
			weight[i] = float32(qw[i] * sqrt32(sigma2+float32(v*v)))
		} else {
			weight[i] = float32(v * v)
		}
	}
}

// iq1mSplit is quantize_row_iq1_m_impl's exhaustive search for the group of
// 16 with sorted order idx: the split (i1, i2), the shift code of the two
// halves and the scale, with prefix sums kept per half.
func iq1mSplit(xb, weight []float32, idx []int, max float32) (i1b, i2b, kb int, scale float32) {
	var px, pw [2][17]float32
	for j, i := range idx {
		h := i / 8
		px[h][j+1] = px[h][j] + float32(weight[i]*xb[i])
		px[1-h][j+1] = px[1-h][j]
		pw[h][j+1] = pw[h][j] + weight[i]
		pw[1-h][j+1] = pw[1-h][j]
	}
	txs, tws := [2]float32{px[0][16], px[1][16]}, [2]float32{pw[0][16], pw[1][16]}
	p2, m2 := iq1P[2], iq1M[2]
	sq := func(v float32) float32 { return float32(v * v) }
	cp1, cp2 := sq(iq1P[0])-sq(iq1P[1]), sq(iq1P[1])-sq(iq1P[2])
	cm1, cm2 := sq(iq1M[0])-sq(iq1M[1]), sq(iq1M[1])-sq(iq1M[2])
	best := float32(-math.MaxFloat32)
	scale, i1b, i2b, kb = max, -1, -1, -1
	for i1 := 0; i1 <= 16; i1++ {
		for i2 := i1; i2 <= 16; i2++ {
			var qxp, qxm, q2p, q2m [2]float32
			for h := 0; h < 2; h++ {
				sx := px[h][i1] + px[h][i2]
				qxp[h] = float32(txs[h]*p2) - sx
				qxm[h] = float32(txs[h]*m2) - sx
				q2p[h] = float32(float32(tws[h]*p2)*p2) + float32(pw[h][i1]*cp1) + float32(pw[h][i2]*cp2)
				q2m[h] = float32(float32(tws[h]*m2)*m2) + float32(pw[h][i1]*cm1) + float32(pw[h][i2]*cm2)
			}
			sumqx := [4]float32{qxp[0] + qxp[1], qxp[0] + qxm[1], qxm[0] + qxp[1], qxm[0] + qxm[1]}
			sumq2 := [4]float32{q2p[0] + q2p[1], q2p[0] + q2m[1], q2m[0] + q2p[1], q2m[0] + q2m[1]}
			for k := 0; k < 4; k++ {
				if sumq2[k] > 0 && float32(sumqx[k]*sumqx[k]) > float32(best*sumq2[k]) {
					scale = sumqx[k] / sumq2[k]
					best = float32(scale * sumqx[k])
					i1b, i2b, kb = i1, i2, k
				}
			}
		}
	}
	return i1b, i2b, kb, scale
}

// IQ1_M block: qs[32] (low 8 bits of the grid indices), qh[16] (per 8: the
// index's three high bits and the shift's sign), scales[8] (uint16 ×4: a
// 3-bit scale per 16, and the fp16 super-scale's nibbles on top).
func quantRowIQ1M(x, w []float32, b []byte) {
	lat := lattice(latIQ1S)
	masks := [4]uint8{0x00, 0x80, 0x08, 0x88}
	var weight [16]float32
	var L [16]int8
	var idx [16]int
	var index [2]int
	var scales [16]float32
	var shifts [16]int
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xs, y := x[qkK*ibl:qkK*ibl+qkK], b[56*ibl:56*ibl+56]
		clear(y)
		qs, qh, sc := y[0:32], y[32:48], y[48:56]
		sigma2 := float32(2*sumSquares(xs)) / qkK
		qwOf := func(ib int) []float32 {
			if w == nil {
				return nil
			}
			return w[qkK*ibl+16*ib : qkK*ibl+16*ib+16]
		}
		var maxScale float32
		for ib := range scales {
			xb := xs[16*ib : 16*ib+16]
			iq1mWeights(xb, qwOf(ib), weight[:], sigma2)
			max := absMaxOf(xb)
			scales[ib], shifts[ib] = 0, 0
			if max < groupMaxEpsIQ1M {
				continue
			}
			sortedOrder(xb, idx[:])
			i1, i2, k, scale := iq1mSplit(xb, weight[:], idx[:], max)
			if i1 < 0 {
				continue
			}
			iq1Levels(idx[:], i1, i2, L[:])
			if scale < 0 {
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale, k = -scale, 3-k
			}
			shift := func(v int) *[3]float32 { return iq1mShift(k, v) }
			if !iq1Grid(lat, xb, weight[:], L[:], scale, shift, index[:]) {
				scale = iq1Refit(lat, xb, weight[:], index[:], shift, scale)
			}
			qs[2*ib], qs[2*ib+1] = uint8(index[0]), uint8(index[1])
			qh[ib] = uint8(index[0]>>8) | uint8(index[1]>>8)<<4
			scales[ib], shifts[ib] = scale, k
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 15
		id := 1 / d
		var sumqx, sumq2 float32
		var s [4]uint16
		for ib := range scales {
			l := oddLevel(id, scales[ib], 8)
			s[ib/4] |= uint16(l) << (3 * (ib % 4))
			qh[ib] |= masks[shifts[ib]]
			xb := xs[16*ib : 16*ib+16]
			iq1mWeights(xb, qwOf(ib), weight[:], sigma2)
			for k := 0; k < 2; k++ {
				xx := iq1mShift(shifts[ib], k)
				g := int(qs[2*ib+k]) + int(qh[ib])<<(8-4*k)&0x700
				for j := 0; j < 8; j++ {
					wj := weight[8*k+j]
					q := float32(xx[(lat.pos[g][j]-1)/2] * float32(2*l+1))
					sumqx += float32(float32(wj*q) * xb[8*k+j])
					sumq2 += float32(float32(wj*q) * q)
				}
			}
		}
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		h := fp16(float32(d * 1.1125))
		s[0] |= (h & 0x000f) << 12
		s[1] |= (h & 0x00f0) << 8
		s[2] |= (h & 0x0f00) << 4
		s[3] |= h & 0xf000
		for i, v := range s {
			le.PutUint16(sc[2*i:], v)
		}
	}
}
