package quant

import (
	"encoding/binary"
	"math"
)

// The 32-element types of ggml's first generation: a half scale (and for
// _1 types a half minimum) per block, 4, 5 or 8 bits per weight.

const qk = 32

var le = binary.LittleEndian

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// toInt8 converts as C's (int8_t) cast of a float compiles on x86-64
// (truncate to int32, keep the low byte); in range it is plain truncation.
func toInt8(v float32) int8 { return int8(int32(v)) }

// absMaxSigned returns the largest magnitude in x and the signed value that
// has it (the first one, on ties), as ggml's symmetric quantizers pick it.
func absMaxSigned(x []float32) (amax, max float32) {
	var ab, mb uint32 // selected as bit patterns: conditional moves, not branches
	for _, v := range x {
		vb := math.Float32bits(v)
		if math.Float32frombits(ab) < math.Float32frombits(vb&^(1<<31)) {
			ab, mb = vb&^(1<<31), vb
		}
	}
	return math.Float32frombits(ab), math.Float32frombits(mb)
}

// minMax returns the smallest and largest value of x, starting from ±FLT_MAX
// and replacing only on strictly smaller or larger values, as ggml does. The
// running values are selected as bit patterns, which compiles to conditional
// moves: a branch per element would mispredict on every new extreme.
func minMax(x []float32) (lo, hi float32) {
	lob, hib := math.Float32bits(math.MaxFloat32), math.Float32bits(-math.MaxFloat32)
	for _, v := range x {
		vb := math.Float32bits(v)
		if v < math.Float32frombits(lob) {
			lob = vb
		}
		if v > math.Float32frombits(hib) {
			hib = vb
		}
	}
	return math.Float32frombits(lob), math.Float32frombits(hib)
}

func inverse(d float32) float32 {
	if d != 0 {
		return 1 / d
	}
	return 0
}

func quantQ4_0(xs []float32, b []byte) {
	x, y := (*[qk]float32)(xs), (*[18]byte)(b)
	_, max := absMaxSigned(x[:])
	d := max / -8
	id := inverse(d)
	le.PutUint16(y[0:], fp16(d))
	for j := 0; j < qk/2; j++ {
		x0 := float32(x[j] * id)
		x1 := float32(x[qk/2+j] * id)
		xi0 := min(15, toInt8(x0+8.5))
		xi1 := min(15, toInt8(x1+8.5))
		y[2+j] = uint8(xi0) | uint8(xi1)<<4
	}
}

func dequantQ4_0(b []byte, xs []float32) {
	y, x := (*[18]byte)(b), (*[qk]float32)(xs)
	d := fp16to32(le.Uint16(y[0:]))
	for j := 0; j < qk/2; j++ {
		x[j] = float32(int32(y[2+j]&0xf)-8) * d
		x[j+qk/2] = float32(int32(y[2+j]>>4)-8) * d
	}
}

func quantQ4_1(xs []float32, b []byte) {
	x, y := (*[qk]float32)(xs), (*[20]byte)(b)
	lo, hi := minMax(x[:])
	d := (hi - lo) / 15
	id := inverse(d)
	le.PutUint16(y[0:], fp16(d))
	le.PutUint16(y[2:], fp16(lo))
	for j := 0; j < qk/2; j++ {
		x0 := float32((x[j] - lo) * id)
		x1 := float32((x[qk/2+j] - lo) * id)
		xi0 := min(15, toInt8(x0+0.5))
		xi1 := min(15, toInt8(x1+0.5))
		y[4+j] = uint8(xi0) | uint8(xi1)<<4
	}
}

func dequantQ4_1(b []byte, xs []float32) {
	y, x := (*[20]byte)(b), (*[qk]float32)(xs)
	d := fp16to32(le.Uint16(y[0:]))
	m := fp16to32(le.Uint16(y[2:]))
	for j := 0; j < qk/2; j++ {
		x[j] = float32(float32(y[4+j]&0xf)*d) + m
		x[j+qk/2] = float32(float32(y[4+j]>>4)*d) + m
	}
}

func quantQ5_0(xs []float32, b []byte) {
	x, y := (*[qk]float32)(xs), (*[22]byte)(b)
	_, max := absMaxSigned(x[:])
	d := max / -16
	id := inverse(d)
	le.PutUint16(y[0:], fp16(d))
	var qh uint32
	for j := 0; j < qk/2; j++ {
		x0 := float32(x[j] * id)
		x1 := float32(x[qk/2+j] * id)
		xi0 := uint8(min(31, toInt8(x0+16.5)))
		xi1 := uint8(min(31, toInt8(x1+16.5)))
		y[6+j] = xi0&0xf | (xi1&0xf)<<4
		qh |= uint32(xi0&0x10) >> 4 << j
		qh |= uint32(xi1&0x10) >> 4 << (j + qk/2)
	}
	le.PutUint32(y[2:], qh)
}

func dequantQ5_0(b []byte, xs []float32) {
	y, x := (*[22]byte)(b), (*[qk]float32)(xs)
	d := fp16to32(le.Uint16(y[0:]))
	qh := le.Uint32(y[2:])
	for j := 0; j < qk/2; j++ {
		h0 := uint8(qh>>j<<4) & 0x10
		h1 := uint8(qh>>(j+12)) & 0x10
		x[j] = float32(int32(y[6+j]&0xf|h0)-16) * d
		x[j+qk/2] = float32(int32(y[6+j]>>4|h1)-16) * d
	}
}

func quantQ5_1(xs []float32, b []byte) {
	x, y := (*[qk]float32)(xs), (*[24]byte)(b)
	lo, hi := minMax(x[:])
	d := (hi - lo) / 31
	id := inverse(d)
	le.PutUint16(y[0:], fp16(d))
	le.PutUint16(y[2:], fp16(lo))
	var qh uint32
	for j := 0; j < qk/2; j++ {
		x0 := float32((x[j] - lo) * id)
		x1 := float32((x[qk/2+j] - lo) * id)
		xi0 := uint8(int32(x0 + 0.5))
		xi1 := uint8(int32(x1 + 0.5))
		y[8+j] = xi0&0xf | (xi1&0xf)<<4
		qh |= uint32(xi0&0x10) >> 4 << j
		qh |= uint32(xi1&0x10) >> 4 << (j + qk/2)
	}
	le.PutUint32(y[4:], qh)
}

func dequantQ5_1(b []byte, xs []float32) {
	y, x := (*[24]byte)(b), (*[qk]float32)(xs)
	d := fp16to32(le.Uint16(y[0:]))
	m := fp16to32(le.Uint16(y[2:]))
	qh := le.Uint32(y[4:])
	for j := 0; j < qk/2; j++ {
		h0 := uint8(qh>>j<<4) & 0x10
		h1 := uint8(qh>>(j+12)) & 0x10
		x[j] = float32(float32(y[8+j]&0xf|h0)*d) + m
		x[j+qk/2] = float32(float32(y[8+j]>>4|h1)*d) + m
	}
}

func quantQ8_0(xs []float32, b []byte) {
	x, y := (*[qk]float32)(xs), (*[34]byte)(b)
	if d, ok := q8Block(x, (*[32]byte)(y[2:])); ok { // AVX2, finite weights
		le.PutUint16(y[0:], fp16(d))
		return
	}
	quantQ8_0Go(x, y)
}

// quantQ8_0Go is quantize_row_q8_0_ref for one block.
func quantQ8_0Go(x *[qk]float32, y *[34]byte) {
	var amax float32
	for _, v := range x {
		if a := abs32(v); !(amax > a) {
			amax = a
		}
	}
	d := amax / 127
	id := inverse(d)
	le.PutUint16(y[0:], fp16(d))
	for j, v := range x {
		y[2+j] = uint8(int8(roundAway(float32(v * id))))
	}
}

// roundAway is C's roundf (halves away from zero) for |v| < 2^29: v plus a
// half of v's sign is exact in float64, and truncating it rounds halves
// away from zero. Branch-free: Q8_0's inner loop on random weights
// mispredicted the two comparisons of a fraction test about half the time.
// Checked against math.Round on every float32 below 2^23 when written (no
// difference); TestRoundAway keeps the edges. NaN gives int32(NaN), as before.
func roundAway(v float32) int32 {
	x := float64(v)
	return int32(x + math.Copysign(0.5, x))
}

func dequantQ8_0(b []byte, xs []float32) {
	y, x := (*[34]byte)(b), (*[qk]float32)(xs)
	d := fp16to32(le.Uint16(y[0:]))
	for j := range x {
		x[j] = float32(int8(y[2+j])) * d
	}
}
