package quant

import "math"

// Q1_0 and Q2_0 (ggml types 41 and 42): one fp16 scale per block and one or
// two bits per weight, with no search. ggml's quantize_q1_0/q2_0 run the
// reference quantizer whatever the importance weights, so these types have
// no row quantizer: QuantizeRows encodes them block by block, as it does
// Q8_0.

const (
	qk1_0 = 128 // QK1_0
	qk2_0 = 64  // QK2_0
)

// Q1_0 block: d (the block's mean magnitude), qs[16]: bit j of the block
// set when element j is >= 0 (a sign, -0 counted as positive, NaN as
// negative). The sum runs in element order in float32, as in ggml.
func quantQ1_0(xs []float32, b []byte) {
	x, y := (*[qk1_0]float32)(xs), (*[2 + qk1_0/8]byte)(b)
	var sum float32
	for _, v := range x {
		sum += abs32(v)
	}
	le.PutUint16(y[0:], fp16(sum/qk1_0))
	for j := 0; j < qk1_0/8; j++ {
		var q byte
		for k := 0; k < 8; k++ {
			if x[8*j+k] >= 0 {
				q |= 1 << k
			}
		}
		y[2+j] = q
	}
}

func dequantQ1_0(b []byte, xs []float32) {
	y, x := (*[2 + qk1_0/8]byte)(b), (*[qk1_0]float32)(xs)
	d := fp16to32(le.Uint16(y[0:]))
	for j := range x {
		if y[2+j/8]>>(j%8)&1 != 0 {
			x[j] = d
		} else {
			x[j] = -d
		}
	}
}

// Q2_0 block: d (the block's largest magnitude), qs[16]: four 2-bit codes
// per byte, element j in bits 2·(j%4) of byte j/4; code q stands for
// (q-1)·d, so -d, 0, d and 2d (the last is never written from finite
// inputs). NaN elements do not count towards d, as ggml's comparison skips
// them.
func quantQ2_0(xs []float32, b []byte) {
	x, y := (*[qk2_0]float32)(xs), (*[2 + qk2_0/4]byte)(b)
	var amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax = a
		}
	}
	id := inverse(amax)
	le.PutUint16(y[0:], fp16(amax))
	for j := 0; j < qk2_0/4; j++ {
		var q byte
		for k := 0; k < 4; k++ {
			q |= code2(float32(x[4*j+k]*id)) << (2 * k)
		}
		y[2+j] = q
	}
}

// code2 is ggml's (int)roundf(v)+1 clamped to 0..3. ggml's build converts
// with x86-64's cvttss2si, which gives INT_MIN for NaN and for values beyond
// int's range (an infinity, when d is so small that 1/d overflows); the clamp
// then makes that 0, even for +Inf. Spelled out here because Go's own
// float-to-int conversion of such values differs between architectures.
func code2(v float32) byte {
	r := math.Round(float64(v)) // roundf: halves away from zero; exact in float64
	switch {
	case !(r > -2 && r < 1<<31): // NaN, INT_MIN's territory, or below -1 anyway
		return 0
	case r > 2:
		return 3
	}
	return byte(int32(r) + 1)
}

func dequantQ2_0(b []byte, xs []float32) {
	y, x := (*[2 + qk2_0/4]byte)(b), (*[qk2_0]float32)(xs)
	d := fp16to32(le.Uint16(y[0:]))
	for j := range x {
		x[j] = float32(int32(y[2+j/4]>>(2*(j%4))&3)-1) * d
	}
}
