package quant

import (
	"math"
	"math/bits"
)

// fp16 rounds a float32 to IEEE half precision the way ggml's
// GGML_FP32_TO_FP16 does (F16C's _cvtss_sh and the portable fallback agree):
// round to nearest even, subnormal halves kept, overflow to infinity, and every
// NaN to the canonical quiet NaN 0x7e00 with the input's sign.
func fp16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	a := b & 0x7fffffff
	switch {
	case a > 0x7f800000: // NaN
		return sign | 0x7e00
	case a >= 0x47800000: // 65536 and up, infinity included
		return sign | 0x7c00
	case a >= 0x38800000: // a normal half (2^-14 and up): rebias the exponent
		v := a - 112<<23
		v += 0xfff + (v>>13)&1
		return sign | uint16(v>>13) // a carry into the exponent rounds up to infinity as it should
	case a < 0x33000000: // below half the smallest subnormal: zero
		return sign
	}
	// A subnormal half counts units of 2^-24: shift the full mantissa right and
	// round the dropped bits to nearest even.
	e := a >> 23
	m := a&0x7fffff | 0x800000
	shift := 126 - e // 14..24
	q := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return sign | uint16(q)
}

// fp16to32 widens a half to float32 (exact).
func fp16to32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1f
	m := uint32(h & 0x3ff)
	switch {
	case e == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | m<<13)
	case e != 0:
		return math.Float32frombits(sign | (e+112)<<23 | m<<13)
	case m == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: normalise the mantissa.
	lz := uint32(bits.LeadingZeros32(m)) - 21 // shifts that bring bit 10 to the top of the 10 bits
	m = m << lz & 0x3ff
	return math.Float32frombits(sign | (113-lz)<<23 | m<<13)
}

// nearestInt is ggml's nearest_int: adding 1.5*2^23 leaves the rounded
// (nearest-even) integer in the low mantissa bits. Reproduced bit for bit,
// including the wrap-around it gives outside ±2^22 and for NaN or infinity,
// because the quantizers' outputs depend on it.
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

func math32bits(f float32) uint32     { return math.Float32bits(f) }
func math32frombits(b uint32) float32 { return math.Float32frombits(b) }
