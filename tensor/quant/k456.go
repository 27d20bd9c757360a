package quant

// Q4_K, Q5_K (eight 32-element groups, 6-bit scales and mins under half
// super-scales), Q6_K (sixteen 16-element groups, 8-bit scales) and Q8_K
// (float32 scale, ggml's dot-product partner type).

// fitQ45 runs ggml's reference group fit for Q4_K/Q5_K: each group of 32 is
// weighted by rms+|x| and fitted with makeQKX2Quants; the scales and mins are
// then quantized to 6 bits into sc (12 bytes) and the half super-scales
// stored at y[0:4]; finally every weight is re-quantized against the rounded
// scales. L gets the levels 0..nmax.
func fitQ45(x *[qkK]float32, y []byte, L *[qkK]uint8, nmax int32, rmin, rdelta float32, nstep int) {
	var weights [32]float32
	var mins, scales [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		g := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range g {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range g {
			weights[l] = avX + abs32(v)
		}
		scales[j] = makeQKX2Quants(g, weights[:], L[32*j:], &mins[j], nmax, rmin, rdelta, nstep, false)
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
	sc := (*[12]byte)(y[4:16])
	for j := 0; j < 8; j++ {
		ls := min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm := min(63, uint8(nearestInt(float32(invMin*mins[j]))))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= ls >> 4 << 6
			sc[j] |= lm >> 4 << 6
		}
	}
	le.PutUint16(y[0:], fp16(maxScale/63))
	le.PutUint16(y[2:], fp16(maxMin/63))
	d, dmin := fp16to32(le.Uint16(y[0:])), fp16to32(le.Uint16(y[2:]))
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(sc, j)
		dl := float32(d * float32(s))
		if dl == 0 {
			continue
		}
		ml := float32(dmin * float32(m))
		for i, v := range x[32*j : 32*j+32] {
			L[32*j+i] = uint8(clamp(nearestInt((v+ml)/dl), 0, nmax))
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
	var maxScale, maxAbs float32
	for ib := 0; ib < 16; ib++ {
		scales[ib] = makeQ6Quants((*[16]float32)(x[16*ib:]), (*[16]int8)(L[16*ib:]))
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
	for j := 0; j < 16; j++ {
		dl := float32(d * float32(int8(sc[j])))
		if dl == 0 {
			continue
		}
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = int8(clamp(nearestInt(v/dl), -32, 31) + 32)
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
