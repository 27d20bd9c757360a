package quant

// Q4_K and Q5_K fit eight 32-weight groups per super-block with
// make_qkx2_quants, each a chain of dependent float32 sums that must run in
// ggml's order, so no group's search vectorizes. The eight groups are
// independent, though: qkx2Eight runs them side by side, one per lane of an
// AVX2 register (qkx2lanes_amd64.s), every lane doing exactly the float32
// operations qkx2Generic does for its group, in the same order, unfused, and
// taking an improvement by a per-lane select instead of a branch. Elsewhere,
// or built with -tags purego, each group takes makeQKX2Quants.

// qkx2Lanes is the eight groups' state, element i of group g at [i][g]; the
// assembly knows its layout.
type qkx2Lanes struct {
	x, w                            [32][8]float32
	L, lv                           [32][8]int32 // the best levels; a step's levels
	lo, hi, sumW, sumX, scale, best [8]float32
}

// qkx2Eight fits the eight groups of x (weights w[g]) as makeQKX2Quants
// with squared error would, one at a time: scales, mins (positive) and the
// levels into L.
func qkx2Eight(x *[qkK]float32, w *[8][32]float32, L *[qkK]uint8, scales, mins *[8]float32,
	nmax int32, rmin, rdelta float32, nstep int) {
	if !haveLanes || nstep < 1 {
		for g := range 8 {
			scales[g] = makeQKX2Quants(x[32*g:32*g+32], w[g][:], L[32*g:], &mins[g], nmax, rmin, rdelta, nstep, false)
		}
		return
	}
	var s qkx2Lanes
	var flat [8]bool // groups with max == min: all levels 0, min -lo
	var flatMin [8]float32
	fnmax := float32(nmax)
	for g := range 8 {
		xg, wg := x[32*g:32*g+32], w[g][:]
		lo, hi, sumW, sumX := qkx2Range(xg, wg)
		s.lo[g], s.hi[g], s.sumW[g], s.sumX[g] = lo, hi, sumW, sumX
		if hi == lo {
			flat[g], flatMin[g] = true, -lo
			continue
		}
		// The first fit, as qkx2Generic makes it.
		iscale := fnmax / (hi - lo)
		scale := 1 / iscale
		var bestErr float32
		for i, v := range xg {
			l := clamp(nearestInt(float32(iscale*(v-lo))), 0, nmax)
			s.L[i][g] = l
			diff := float32(float32(scale*float32(l))+lo) - v
			bestErr += float32(wg[i] * float32(diff*diff))
			s.x[i][g], s.w[i][g] = v, wg[i]
		}
		s.scale[g], s.best[g] = scale, bestErr
	}
	qkx2Steps(&s, nmax, rmin, rdelta, nstep)
	for g := range 8 {
		out := L[32*g : 32*g+32]
		if flat[g] {
			clear(out)
			scales[g], mins[g] = 0, flatMin[g]
			continue
		}
		for i := range out {
			out[i] = uint8(s.L[i][g])
		}
		scales[g], mins[g] = s.scale[g], -s.lo[g]
	}
}

// qkx2Range is make_qkx2_quants' first pass: the range (lo capped at 0) and
// the float32 sums of w and w·x, in ggml's order.
func qkx2Range(x, weights []float32) (lo, hi, sumW, sumX float32) {
	lo, hi = x[0], x[0]
	sumW = weights[0]
	sumX = float32(sumW * x[0])
	for i := 1; i < len(x); i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		sumW += weights[i]
		sumX += float32(weights[i] * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	return lo, hi, sumW, sumX
}
