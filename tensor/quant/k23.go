package quant

import "math"

// Q2_K and Q3_K: 256-element super-blocks of sixteen 16-element groups, 2 or
// 3 bits per weight, with 4- or 6-bit group scales under a half super-scale.

const qkK = 256

// Q2_K block: scales[16] (scale low nibble, min high nibble), qs[64], d, dmin.
func quantQ2_K(xs []float32, b []byte) {
	x, y := (*[qkK]float32)(xs), (*[84]byte)(b)
	var L [qkK]uint8
	var weights [16]float32
	var mins, scales [16]float32
	var maxScale, maxMin float32
	for j := 0; j < 16; j++ {
		g := x[16*j : 16*j+16]
		for l, v := range g {
			weights[l] = abs32(v)
		}
		scales[j] = makeQKX2Quants(g, weights[:], L[16*j:], &mins[j], 3, -0.5, 0.1, 15, true)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	sc := y[0:16]
	if maxScale > 0 {
		iscale := 15 / maxScale
		for j := range sc {
			sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
		}
		le.PutUint16(y[80:], fp16(maxScale/15))
	} else {
		clear(sc)
		le.PutUint16(y[80:], 0)
	}
	if maxMin > 0 {
		iscale := 15 / maxMin
		for j := range sc {
			sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
		}
		le.PutUint16(y[82:], fp16(maxMin/15))
	} else {
		le.PutUint16(y[82:], 0)
	}
	requantQ2K(x, y, &L)
}

// requantQ2K re-quantizes every weight of x against the rounded scales and
// mins y holds (scales, d, dmin), leaving a group whose scale is zero at
// its fitted levels L, and packs the levels.
func requantQ2K(x *[qkK]float32, y *[84]byte, L *[qkK]uint8) {
	sc := y[0:16]
	d, dmin := fp16to32(le.Uint16(y[80:])), fp16to32(le.Uint16(y[82:]))
	for j := 0; j < 16; j++ {
		dl := float32(d * float32(sc[j]&0xf))
		if dl == 0 {
			continue
		}
		ml := float32(dmin * float32(sc[j]>>4))
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = uint8(clamp(nearestInt((v+ml)/dl), 0, 3))
		}
	}
	pack2(y[16:80], L)
}

// pack2 stores 2-bit levels: byte l of each 32-byte run holds elements l,
// l+32, l+64 and l+96 of a 128-element half.
func pack2(qs []byte, L *[qkK]uint8) {
	qs = qs[:64]
	for j := 0; j < qkK; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

func dequantQ2_K(b []byte, xs []float32) {
	y, x := (*[84]byte)(b), (*[qkK]float32)(xs)
	d, dmin := fp16to32(le.Uint16(y[80:])), fp16to32(le.Uint16(y[82:]))
	for e := 0; e < qkK; e += 16 {
		sc := y[e/16]
		dl := float32(d * float32(sc&0xf))
		ml := float32(dmin * float32(sc>>4))
		q := y[16+e/128*32+e%32:][:16]
		shift := uint(e % 128 / 32 * 2)
		for l := range 16 {
			x[e+l] = float32(dl*float32(q[l]>>shift&3)) - ml
		}
	}
}

// Q3_K block: hmask[32] (third bit), qs[64] (low two bits), scales[12]
// (sixteen 6-bit scales), d.
func quantQ3_K(xs []float32, b []byte) {
	x, y := (*[qkK]float32)(xs), (*[110]byte)(b)
	var L [qkK]int8
	var scales [16]float32
	var maxScale, amax float32
	for j := 0; j < 16; j++ {
		scales[j] = makeQ3Quants(x[16*j:16*j+16], L[16*j:], 4)
		if s := abs32(scales[j]); s > amax {
			amax, maxScale = s, scales[j]
		}
	}
	sc := (*[12]byte)(y[96:108])
	clear(sc[:])
	if maxScale != 0 {
		iscale := -32 / maxScale
		for j := 0; j < 16; j++ {
			l := int8(nearestInt(float32(iscale * scales[j])))
			putQ3Scale(sc, j, uint8(max(-32, min(31, l))+32))
		}
		le.PutUint16(y[108:], fp16(1/iscale))
	} else {
		le.PutUint16(y[108:], 0)
	}
	requantQ3K(x, y, L)
}

// requantQ3K re-quantizes every weight of x against the rounded scales y
// holds (d, scales), leaving a group whose scale is zero at its fitted
// levels L, and packs the levels 0..7: bit 2 to hmask (bit j/32 of byte
// j%32), the low two bits to qs. The packing has no branches, which random
// levels mispredict.
func requantQ3K(x *[qkK]float32, y *[110]byte, L [qkK]int8) {
	sc := (*[12]byte)(y[96:108])
	d := fp16to32(le.Uint16(y[108:]))
	for j := 0; j < 16; j++ {
		dl := float32(d * float32(q3Scale(sc, j)))
		if dl == 0 {
			continue
		}
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = int8(clamp(nearestInt(v/dl), -4, 3) + 4)
		}
	}
	hm := (*[32]byte)(y[0:32])
	clear(hm[:])
	var lo [qkK]uint8
	for b := range 8 {
		for i, l := range (*[32]int8)(L[32*b : 32*b+32]) {
			hm[i] |= uint8(l) >> 2 & 1 << b
			lo[32*b+i] = uint8(l) & 3
		}
	}
	pack2(y[32:96], &lo)
}

// q3Scale unpacks group j's 6-bit scale, re-centred to -32..31.
func q3Scale(sc *[12]byte, j int) int8 {
	var v uint8
	if j < 8 {
		v = sc[j] & 0xf
	} else {
		v = sc[j-8] >> 4
	}
	v |= (sc[8+j%4] >> (2 * (j / 4)) & 3) << 4
	return int8(v) - 32
}

// putQ3Scale stores group j's 6-bit scale l (the scale+32, 0..63) into sc,
// cleared before the first group: q3Scale's inverse.
func putQ3Scale(sc *[12]byte, j int, l uint8) {
	if j < 8 {
		sc[j] |= l & 0xf
	} else {
		sc[j-8] |= (l & 0xf) << 4
	}
	sc[j%4+8] |= l >> 4 << (2 * (j / 4))
}

func dequantQ3_K(b []byte, xs []float32) {
	y, x := (*[110]byte)(b), (*[qkK]float32)(xs)
	d := fp16to32(le.Uint16(y[108:]))
	sc := (*[12]byte)(y[96:108])
	for e := 0; e < qkK; e += 16 {
		dl := float32(d * float32(q3Scale(sc, e/16)))
		q := y[32+e/128*32+e%32:][:16]
		h := y[e%32:][:16]
		shift := uint(e % 128 / 32 * 2)
		bit := uint8(1) << (e / 32)
		for l := range 16 {
			v := int32(q[l] >> shift & 3)
			if h[l]&bit == 0 {
				v -= 4
			}
			x[e+l] = dl * float32(v)
		}
	}
}

func sqrt32(v float32) float32 { return float32(math.Sqrt(float64(v))) }
