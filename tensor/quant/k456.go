package quant

import "math"

// Q4_K, Q5_K (eight 32-element groups, 6-bit scales and mins under half
// super-scales), Q6_K (sixteen 16-element groups, 8-bit scales) and Q8_K
// (float32 scale, ggml's dot-product partner type).

// fitQ45 runs ggml's reference group fit for Q4_K/Q5_K: each group of 32 is
// weighted by rms+|x| and fitted with makeQKX2Quants (all eight at once,
// qkx2Eight, which weighs them too); the scales and mins are
// then quantized to 6 bits into sc (12 bytes) and the half super-scales
// stored at y[0:4]; finally every weight is re-quantized against the rounded
// scales. L gets the levels 0..nmax.
func fitQ45(x *[qkK]float32, y []byte, L *[qkK]uint8, nmax int32, rmin, rdelta float32, nstep int) {
	var mins, scales [8]float32
	var maxScale, maxMin float32
	qkx2Eight(x, nil, L, &scales, &mins, nmax, rmin, rdelta, nstep) // weights rms+|x|
	for j := 0; j < 8; j++ {
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := range 8 {
		ls[j] = min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm[j] = min(63, uint8(nearestInt(float32(invMin*mins[j]))))
	}
	putScalesMinsK4(y, maxScale/63, maxMin/63, &ls, &lm)
	requantQ45(x, y, L, nmax)
}

// putScalesMinsK4 stores a Q4_K or Q5_K block's half super-scale d and
// super-minimum dmin at y[0:4] and its eight 6-bit scales ls and mins lm at
// y[4:16], in ggml's layout (the high bits of groups 4..7 on top of 0..7).
func putScalesMinsK4(y []byte, d, dmin float32, ls, lm *[8]uint8) {
	sc := (*[12]byte)(y[4:16])
	for j := range 8 {
		if j < 4 {
			sc[j] = ls[j]
			sc[j+4] = lm[j]
		} else {
			sc[j+4] = ls[j]&0xf | (lm[j]&0xf)<<4
			sc[j-4] |= ls[j] >> 4 << 6
			sc[j] |= lm[j] >> 4 << 6
		}
	}
	le.PutUint16(y[0:], fp16(d))
	le.PutUint16(y[2:], fp16(dmin))
}

// requantQ45 re-quantizes every weight of x against the rounded scales and
// mins y holds (putScalesMinsK4), levels 0..nmax into L; a group whose
// scale rounded to zero keeps the levels its fit gave.
func requantQ45(x *[qkK]float32, y []byte, L *[qkK]uint8, nmax int32) {
	sc := (*[12]byte)(y[4:16])
	d, dmin := fp16to32(le.Uint16(y[0:])), fp16to32(le.Uint16(y[2:]))
	var dls, mls [8]float32
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(sc, j)
		dls[j], mls[j] = float32(d*float32(s)), float32(dmin*float32(m))
	}
	if q45Requant(x, &dls, &mls, L, nmax) { // AVX2
		return
	}
	for j, dl := range dls {
		if dl == 0 {
			continue
		}
		for i, v := range x[32*j : 32*j+32] {
			L[32*j+i] = uint8(clamp(nearestInt((v+mls[j])/dl), 0, nmax))
		}
	}
}

// scaleMinK4 unpacks group j's 6-bit scale and min (ggml's get_scale_min_k4).
func scaleMinK4(q *[12]byte, j int) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | q[j-4]>>6<<4, q[j+4]>>4 | q[j]>>6<<4
}

// Q4_K block: d, dmin, scales[12], qs[128] (two 32-element groups per 32 bytes).
func quantQ4_K(xs []float32, b []byte) {
	x, y := (*[qkK]float32)(xs), (*[144]byte)(b)
	var L [qkK]uint8
	fitQ45(x, y[:], &L, 15, -1, 0.1, 20)
	q := y[16:144]
	for j := 0; j < qkK; j += 64 {
		for l := 0; l < 32; l++ {
			q[j/2+l] = L[j+l] | L[j+l+32]<<4
		}
	}
}

func dequantQ4_K(b []byte, xs []float32) {
	y, x := (*[144]byte)(b), (*[qkK]float32)(xs)
	d, dmin := fp16to32(le.Uint16(y[0:])), fp16to32(le.Uint16(y[2:]))
	sc := (*[12]byte)(y[4:16])
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(sc, j)
		dl, ml := float32(d*float32(s)), float32(dmin*float32(m))
		q := y[16+j/2*32:][:32]
		shift := uint(j%2) * 4
		out := x[32*j : 32*j+32]
		for l := range out {
			out[l] = float32(dl*float32(q[l]>>shift&0xf)) - ml
		}
	}
}

// Q5_K block: d, dmin, scales[12], qh[32] (fifth bit), qs[128].
func quantQ5_K(xs []float32, b []byte) {
	x, y := (*[qkK]float32)(xs), (*[176]byte)(b)
	var L [qkK]uint8
	fitQ45(x, y[:], &L, 31, -0.5, 0.1, 15)
	// Levels are 0..31: bit 4 of group g's level goes to bit g of qh, the
	// rest to a nibble of qs (branch-free; random levels mispredict).
	qh, ql := y[16:48], y[48:176]
	clear(qh)
	for n := 0; n < qkK; n += 64 {
		for j := 0; j < 32; j++ {
			l1, l2 := L[n+j], L[n+j+32]
			qh[j] |= l1>>4<<(n/32) | l2>>4<<(n/32+1)
			ql[n/2+j] = l1&0xf | (l2&0xf)<<4
		}
	}
}

func dequantQ5_K(b []byte, xs []float32) {
	y, x := (*[176]byte)(b), (*[qkK]float32)(xs)
	d, dmin := fp16to32(le.Uint16(y[0:])), fp16to32(le.Uint16(y[2:]))
	sc := (*[12]byte)(y[4:16])
	qh := y[16:48]
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(sc, j)
		dl, ml := float32(d*float32(s)), float32(dmin*float32(m))
		q := y[48+j/2*32:][:32]
		shift := uint(j%2) * 4
		bit := uint8(1) << j
		out := x[32*j : 32*j+32]
		for l := range out {
			v := q[l] >> shift & 0xf
			if qh[l]&bit != 0 {
				v += 16
			}
			out[l] = float32(dl*float32(v)) - ml
		}
	}
}

// Q6_K block: ql[128] (low four bits), qh[64] (high two bits), scales[16]
// (int8), d.
func quantQ6_K(xs []float32, b []byte) {
	x, y := (*[qkK]float32)(xs), (*[210]byte)(b)
	var L [qkK]int8
	var scales [16]float32
	q6Sixteen(x, &L, &scales)
	packQ6K(x, y, &L, &scales)
}

// packQ6K rounds the sixteen group scales to int8 under one half scale,
// re-quantizes every weight against them (a group whose scale rounds to
// zero keeps its fitted levels L) and packs the block.
func packQ6K(x *[qkK]float32, y *[210]byte, L *[qkK]int8, scales *[16]float32) {
	var maxScale, maxAbs float32
	for ib := 0; ib < 16; ib++ {
		if a := abs32(scales[ib]); a > maxAbs {
			maxAbs, maxScale = a, scales[ib]
		}
	}
	if maxAbs < groupMaxEps {
		clear(y[:])
		return
	}
	iscale := -128 / maxScale
	le.PutUint16(y[208:], fp16(1/iscale))
	sc := y[192:208]
	for ib := range sc {
		sc[ib] = uint8(min(127, nearestInt(float32(iscale*scales[ib]))))
	}
	d := fp16to32(le.Uint16(y[208:]))
	var dls [16]float32
	for j := range dls {
		dls[j] = float32(d * float32(int8(sc[j])))
	}
	if !q6Requant(x, &dls, L) { // AVX2, or:
		for j, dl := range dls {
			if dl == 0 {
				continue
			}
			for i, v := range x[16*j : 16*j+16] {
				L[16*j+i] = int8(clamp(nearestInt(v/dl), -32, 31) + 32)
			}
		}
	}
	ql, qh := y[0:128], y[128:192]
	for j := 0; j < qkK; j += 128 {
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := uint8(L[j+l]), uint8(L[j+l+32]), uint8(L[j+l+64]), uint8(L[j+l+96])
			ql[j/2+l] = q1&0xf | q3<<4
			ql[j/2+l+32] = q2&0xf | q4<<4
			qh[j/4+l] = q1>>4 | q2>>4<<2 | q3>>4<<4 | q4>>4<<6
		}
	}
}

func dequantQ6_K(b []byte, xs []float32) {
	y, x := (*[210]byte)(b), (*[qkK]float32)(xs)
	d := fp16to32(le.Uint16(y[208:]))
	for n := 0; n < qkK; n += 128 {
		ql, qh := y[n/2:][:64], y[128+n/4:][:32]
		sc := y[192+n/16:][:8]
		out := x[n : n+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int32(ql[l]&0xf|(qh[l]&3)<<4) - 32
			q2 := int32(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
			q3 := int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			out[l] = float32(d*float32(int8(sc[is]))) * float32(q1)
			out[l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
			out[l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
			out[l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
		}
	}
}

// Q8_K block: d (float32), qs[256] (int8), bsums[16] (int16 sums of 16 qs).
func quantQ8_K(xs []float32, b []byte) {
	x, y := (*[qkK]float32)(xs), (*[292]byte)(b)
	amax, max := absMaxSigned(x[:])
	if amax == 0 {
		clear(y[:]) // ggml leaves bsums as they were; zero them to stay deterministic
		return
	}
	iscale := -127 / max
	for j, v := range x {
		y[4+j] = uint8(min(127, nearestInt(float32(iscale*v))))
	}
	for j := 0; j < 16; j++ {
		var sum int32
		for _, q := range y[4+16*j : 4+16*j+16] {
			sum += int32(int8(q))
		}
		le.PutUint16(y[260+2*j:], uint16(int16(sum)))
	}
	le.PutUint32(y[0:], math32bits(1/iscale))
}

func dequantQ8_K(b []byte, xs []float32) {
	y, x := (*[292]byte)(b), (*[qkK]float32)(xs)
	d := math32frombits(le.Uint32(y[0:]))
	for j := range x {
		x[j] = d * float32(int8(y[4+j]))
	}
}

// q6Search is one Q6_K sub-block's trial state: the weights, and for each
// weight i the terms w·x·l and w·l·l of its candidate rounded levels lo_i,
// lo_i+1, lo_i+2 (each clamped to -32..31) in slots 4i..4i+2 of lx and l2.
// base[i] is 0x4b400000 + lo_i - 4i, so that the bits of a rounded product
// 1.5·2²³ + iscale·v minus base[i] are its slot.
type q6Search struct {
	x      [16]float32
	base   [16]uint32
	lx, l2 [64]float32
}

// makeQ6Quants is makeQXQuants for one Q6_K sub-block (16 weights, nmax 32),
// with the same results, faster. Every step of a trial is monotonic in the
// trial scale, so each weight's levels over the 18 trials (and the first
// fit, whose scale lies between theirs) lie between those of the first and
// last trial, at most two apart (the scales span 1.8/amax and |v| ≤ amax).
// Each weight's terms for those levels are computed once, in ggml's
// arithmetic, and each trial only rounds its products and looks the terms
// up, summing them in ggml's order. The rounded level is read from the bits
// of 1.5·2²³ + iscale·v (0x4b400000 + l while |iscale·v| < 2²²), which holds
// for finite x; any NaN or infinity takes the generic path.
func makeQ6Quants(x *[16]float32, L *[16]int8) float32 {
	const nmax = 32
	amax, max, finite := absMaxFinite(x)
	if !finite {
		return makeQXQuants(x[:], L[:], nmax)
	}
	if amax < groupMaxEps {
		clear(L[:])
		return 0
	}
	var iscales [len(qxTrials)]float32 // independent divisions, pipelined
	for k, num := range q6TrialNums {
		iscales[k] = num / max
	}
	var s q6Search
	if !s.fill(x, iscales[0], iscales[len(iscales)-1]) {
		return makeQXQuants(x[:], L[:], nmax)
	}
	iscale := float32(-nmax) / max
	sumlx, suml2 := s.trial(iscale)
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	// L holds the levels of the last scale that improved on best; they are
	// computed once, after the search.
	for k := 0; k < len(iscales); k += 2 {
		lxA, l2A, lxB, l2B := s.trials2(iscales[k], iscales[k+1])
		if l2A > 0 && float32(lxA*lxA) > float32(best*l2A) {
			scale, iscale = lxA/l2A, iscales[k]
			best = float32(scale * lxA)
		}
		if l2B > 0 && float32(lxB*lxB) > float32(best*l2B) {
			scale, iscale = lxB/l2B, iscales[k+1]
			best = float32(scale * lxB)
		}
	}
	for i, v := range x {
		L[i] = int8(nmax + clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1))
	}
	return scale
}

// absMaxFinite is absMaxSigned for 16 weights, and whether all are finite.
// For finite values the magnitudes' bit patterns order as the magnitudes.
func absMaxFinite(x *[16]float32) (amax, max float32, finite bool) {
	var ab, mb uint32
	for _, v := range x {
		vb := math.Float32bits(v)
		a := vb &^ (1 << 31)
		if a > 0x7f7fffff { // NaN or infinity
			return 0, 0, false
		}
		if a > ab {
			ab, mb = a, vb
		}
	}
	return math.Float32frombits(ab), math.Float32frombits(mb), true
}

// fill computes the weights' candidate levels from the extreme trial scales
// and their terms (w = x², as make_qx_quants weighs). It reports false if
// some weight's levels span more than three slots, which finite x with
// |x| ≤ amax cannot produce.
func (s *q6Search) fill(x *[16]float32, first, last float32) bool {
	const nmax = 32
	s.x = *x
	for i, v := range x {
		// The rounded levels' bits, 0x4b400000 + l (see makeQ6Quants).
		blo := math.Float32bits(float32(first*v) + 12582912)
		bhi := math.Float32bits(float32(last*v) + 12582912)
		if blo > bhi {
			blo, bhi = bhi, blo
		}
		if bhi-blo > 2 {
			return false
		}
		s.base[i] = blo - uint32(4*i)
		lo := int32(blo) - 0x4b400000
		w := float32(v * v)
		wx := float32(w * v)
		f0 := float32(clamp(lo, -nmax, nmax-1))
		f1 := float32(clamp(lo+1, -nmax, nmax-1))
		f2 := float32(clamp(lo+2, -nmax, nmax-1))
		o := 4 * i & 60
		s.lx[o], s.l2[o] = float32(wx*f0), float32(float32(w*f0)*f0)
		s.lx[o+1], s.l2[o+1] = float32(wx*f1), float32(float32(w*f1)*f1)
		s.lx[o+2], s.l2[o+2] = float32(wx*f2), float32(float32(w*f2)*f2)
	}
	return true
}

// trial sums one scale's terms over the sub-block.
func (s *q6Search) trial(is float32) (lx, l2 float32) {
	for i := range s.x {
		j := (math.Float32bits(float32(is*s.x[i])+12582912) - s.base[i]) & 63
		lx += s.lx[j]
		l2 += s.l2[j]
	}
	return lx, l2
}

// q6TrialNums are the numerators -(nmax + 0.1·is) of trialScale for Q6_K's
// nmax 32, in qxTrials' order.
var q6TrialNums = func() (t [len(qxTrials)]float32) {
	for k, is := range qxTrials {
		t[k] = -(float32(32) + float32(0.1*float32(is)))
	}
	return t
}()

// trials2 sums two trial scales' terms over the sub-block: four independent
// chains of additions.
func (s *q6Search) trials2(ia, ib float32) (lxA, l2A, lxB, l2B float32) {
	for i := 0; i < len(s.x); i += 2 {
		v0, b0, v1, b1 := s.x[i], s.base[i], s.x[i+1], s.base[i+1]
		ja0 := (math.Float32bits(float32(ia*v0)+12582912) - b0) & 63
		jb0 := (math.Float32bits(float32(ib*v0)+12582912) - b0) & 63
		ja1 := (math.Float32bits(float32(ia*v1)+12582912) - b1) & 63
		jb1 := (math.Float32bits(float32(ib*v1)+12582912) - b1) & 63
		lxA += s.lx[ja0]
		l2A += s.l2[ja0]
		lxB += s.lx[jb0]
		l2B += s.l2[jb0]
		lxA += s.lx[ja1]
		l2A += s.l2[ja1]
		lxB += s.lx[jb1]
		l2B += s.l2[jb1]
	}
	return
}
