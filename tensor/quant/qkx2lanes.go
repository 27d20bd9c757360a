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
// assembly knows its layout (and uses the fields Go does not read).
//
//lint:ignore U1000 the assembly reads and writes every field
type qkx2Lanes struct {
	x, w                            [32][8]float32
	L, lv                           [32][8]int32 // the best levels; a step's levels
	lo, hi, sumW, sumX, scale, best [8]float32
	lo0                             [8]float32 // lo before the steps
	bad                             [8]int32   // lanes with an infinity or NaN, for the Go code
}

// qkx2Eight fits the eight groups of x (weights w[g], or fitQ45's rms+|x|
// when w is nil) as makeQKX2Quants with squared error would, one at a time:
// scales, mins (positive) and the levels into L. The assembly does all of
// make_qkx2_quants but two kinds of groups, which the Go code redoes: those
// with max == min (garbage there) and those holding an infinity or a NaN
// (whose NaN payloads could come out of another operand order).
func qkx2Eight(x *[qkK]float32, w *[8][32]float32, L *[qkK]uint8, scales, mins *[8]float32,
	nmax int32, rmin, rdelta float32, nstep int) {
	one := func(g int) {
		var wg [32]float32
		if w != nil {
			wg = w[g]
		} else {
			rmsWeights(x[32*g:32*g+32], &wg)
		}
		scales[g] = makeQKX2Quants(x[32*g:32*g+32], wg[:], L[32*g:], &mins[g], nmax, rmin, rdelta, nstep, false)
	}
	if !haveLanes || nstep < 1 {
		for g := range 8 {
			one(g)
		}
		return
	}
	var s qkx2Lanes // the assembly moves x and w into its lanes
	qkx2Steps(&s, x, w, nmax, rmin, rdelta, nstep)
	for g := range 8 {
		out := L[32*g : 32*g+32]
		switch {
		case s.bad[g] != 0:
			one(g)
		case s.hi[g] == s.lo0[g]: // max == min: all levels 0
			clear(out)
			scales[g], mins[g] = 0, -s.lo0[g]
		default:
			for i := range out {
				out[i] = uint8(s.L[i][g])
			}
			scales[g], mins[g] = s.scale[g], -s.lo[g]
		}
	}
}

// rmsWeights are the weights Q4_K and Q5_K give a group without an
// importance matrix: the group's rms plus each |x| (the squares summed in
// order).
func rmsWeights(g []float32, w *[32]float32) {
	var sumX2 float32
	for _, v := range g {
		sumX2 += float32(v * v)
	}
	avX := sqrt32(sumX2 / 32)
	for l, v := range g {
		w[l] = avX + abs32(v)
	}
}
