package quant

import "math"

// Types llama-quantize does not produce for the supported mixes, but which
// GGUF files in the wild hold: MXFP4 and the ternary TQ1_0/TQ2_0 (reference
// quantizers and dequantizers), and the IQ4_NL and IQ4_XS dequantizers (their
// row quantizers are in iq4.go).

// kvaluesMXFP4 are twice the E2M1 values, so the shared E8M0 scale is halved.
var kvaluesMXFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

// kvaluesIQ4NL is the non-linear 4-bit codebook of IQ4_NL and IQ4_XS.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// e8m0Half is ggml's GGML_E8M0_TO_FP32_HALF: 2^(e-128).
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

// MXFP4 block: e (E8M0 exponent), qs[16] (low nibbles: elements 0..15).
func quantMXFP4(xs []float32, b []byte) {
	x, y := (*[qk]float32)(xs), (*[17]byte)(b)
	var amax float32
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax = a
		}
	}
	var e uint8
	if amax > 0 {
		lg := float32(math.Log2(float64(amax))) // log2f, correctly rounded
		e = uint8(int32(float32(math.Floor(float64(lg))) - 2 + 127))
	}
	d := e8m0Half(e)
	y[0] = e
	for j := 0; j < qk/2; j++ {
		y[1+j] = bestMXFP4(x[j], d) | bestMXFP4(x[qk/2+j], d)<<4
	}
}

// bestMXFP4 is the code whose value is nearest x (the first on ties).
func bestMXFP4(x, d float32) uint8 {
	best := uint8(0)
	bestErr := abs32(float32(float32(kvaluesMXFP4[0])*d) - x)
	for i := 1; i < 16; i++ {
		if err := abs32(float32(float32(kvaluesMXFP4[i])*d) - x); err < bestErr {
			best, bestErr = uint8(i), err
		}
	}
	return best
}

func dequantMXFP4(b []byte, xs []float32) {
	y, x := (*[17]byte)(b), (*[qk]float32)(xs)
	d := e8m0Half(y[0])
	for j := 0; j < qk/2; j++ {
		x[j] = float32(kvaluesMXFP4[y[1+j]&0xf]) * d
		x[j+qk/2] = float32(kvaluesMXFP4[y[1+j]>>4]) * d
	}
}

func dequantIQ4NL(b []byte, xs []float32) {
	y, x := (*[18]byte)(b), (*[qk]float32)(xs)
	d := fp16to32(le.Uint16(y[0:]))
	for j := 0; j < qk/2; j++ {
		x[j] = d * float32(kvaluesIQ4NL[y[2+j]&0xf])
		x[j+qk/2] = d * float32(kvaluesIQ4NL[y[2+j]>>4])
	}
}

// IQ4_XS block: d, scales_h (uint16: two high bits per group), scales_l[4]
// (a low nibble per group), qs[128].
func dequantIQ4XS(b []byte, xs []float32) {
	y, x := (*[136]byte)(b), (*[qkK]float32)(xs)
	d := fp16to32(le.Uint16(y[0:]))
	sh := le.Uint16(y[2:])
	for ib := 0; ib < 8; ib++ {
		ls := int32(y[4+ib/2]>>(4*(ib%2))&0xf) | int32(sh>>(2*ib)&3)<<4
		dl := float32(d * float32(ls-32))
		qs := y[8+16*ib:][:16]
		out := x[32*ib : 32*ib+32]
		for j := 0; j < 16; j++ {
			out[j] = dl * float32(kvaluesIQ4NL[qs[j]&0xf])
			out[j+16] = dl * float32(kvaluesIQ4NL[qs[j]>>4])
		}
	}
}

// ternary is lroundf(x·id)+1: -1, 0, 1 become 0, 1, 2.
func ternary(v, id float32) uint8 {
	return uint8(int64(math.Round(float64(float32(v*id)))) + 1)
}

// absMax is the largest magnitude in x (NaN-free inputs: ggml's MAX macro).
func absMax(x []float32) float32 {
	var amax float32
	for _, v := range x {
		if a := abs32(v); !(amax > a) {
			amax = a
		}
	}
	return amax
}

// TQ1_0 block: qs[48] (five trits per byte), qh[4] (four trits per byte), d.
// Trits are packed base 3, most significant first, and the byte is scaled by
// 256/243 (rounded up) so that a multiply-and-shift extracts each trit.
func quantTQ1_0(xs []float32, b []byte) {
	x, y := xs[:qkK], (*[54]byte)(b)
	d := absMax(x)
	id := inverse(d)
	le.PutUint16(y[52:], fp16(d))
	pack5 := func(dst []byte, src []float32, stride int) {
		for m := range dst {
			var q uint8
			for n := 0; n < 5; n++ {
				q = q*3 + ternary(src[m+n*stride], id)
			}
			dst[m] = uint8((uint16(q)*256 + 242) / 243)
		}
	}
	pack5(y[0:32], x[0:160], 32)
	pack5(y[32:48], x[160:240], 16)
	for j := 0; j < 4; j++ {
		var q uint8
		for m := 0; m < 4; m++ {
			q = q*3 + ternary(x[240+j+m*4], id)
		}
		q *= 3
		y[48+j] = uint8((uint16(q)*256 + 242) / 243)
	}
}

var pow3 = [6]uint8{1, 3, 9, 27, 81, 243}

func trit(q uint8, n int) float32 {
	q *= pow3[n]
	return float32(int16(uint16(q)*3>>8) - 1)
}

func dequantTQ1_0(b []byte, xs []float32) {
	y, x := (*[54]byte)(b), xs[:qkK]
	d := fp16to32(le.Uint16(y[52:]))
	k := 0
	for n := 0; n < 5; n++ {
		for m := 0; m < 32; m++ {
			x[k] = trit(y[m], n) * d
			k++
		}
	}
	for n := 0; n < 5; n++ {
		for m := 0; m < 16; m++ {
			x[k] = trit(y[32+m], n) * d
			k++
		}
	}
	for n := 0; n < 4; n++ {
		for j := 0; j < 4; j++ {
			x[k] = trit(y[48+j], n) * d
			k++
		}
	}
}

// TQ2_0 block: qs[64] (four 2-bit codes per byte, element l·32+m of each
// 128 in bits 2l of byte m), d.
func quantTQ2_0(xs []float32, b []byte) {
	x, y := (*[qkK]float32)(xs), (*[66]byte)(b)
	d := absMax(x[:])
	id := inverse(d)
	le.PutUint16(y[64:], fp16(d))
	for j := 0; j < 64; j += 32 {
		for m := 0; m < 32; m++ {
			var q uint8
			for n := 0; n < 4; n++ {
				q += ternary(x[4*j+m+n*32], id) & 3 << (2 * n)
			}
			y[j+m] = q
		}
	}
}

func dequantTQ2_0(b []byte, xs []float32) {
	y, x := (*[66]byte)(b), (*[qkK]float32)(xs)
	d := fp16to32(le.Uint16(y[64:]))
	for j := 0; j < 64; j += 32 {
		for l := 0; l < 4; l++ {
			for m := 0; m < 32; m++ {
				x[4*j+32*l+m] = float32(int8(y[j+m]>>(2*l)&3)-1) * d
			}
		}
	}
}
