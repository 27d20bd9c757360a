package quant

import "github.com/mlmf-run/mlmf-run/tensor"

// Importance-weighted row quantizers: ggml's quantize_row_<type>_impl for
// the legacy and k-quant types, the code llama-quantize runs when an
// importance matrix has an entry for the tensor. Without weights each one
// is the block reference quantizer, as ggml's quantize_<type> is with a
// NULL imatrix. Each group's weight is the imatrix entry scaled by
// sqrt(sigma² + x²), where sigma² is the mean square of the row (legacy
// types) or of the super-block (twice that for Q3_K, Q4_K, Q5_K); Q6_K
// takes the entry as it is.
func init() {
	for t, f := range map[tensor.DType]func(x, w []float32, b []byte){
		tensor.Q4_0: rowQ4_0, tensor.Q4_1: rowQ4_1, tensor.Q5_0: rowQ5_0, tensor.Q5_1: rowQ5_1,
		tensor.Q2_K: rowQ2_K, tensor.Q3_K: rowQ3_K, tensor.Q4_K: rowQ4_K, tensor.Q5_K: rowQ5_K,
		tensor.Q6_K: rowQ6_K,
	} {
		rowQuantizers[t] = weightedOrRef(t, f)
	}
}

// weightedOrRef runs f for a row with weights, and the type's block
// reference quantizer for a row without.
func weightedOrRef(t tensor.DType, f func(x, w []float32, b []byte)) func(x, w []float32, b []byte) {
	quant := codecs[t].quant
	in := t.Info()
	bs, bb := int(in.BlockSize), int(in.BlockBytes)
	return func(x, w []float32, b []byte) {
		if w != nil {
			f(x, w, b)
			return
		}
		for i, j := 0, 0; i < len(x); i, j = i+bs, j+bb {
			quant(x[i:i+bs:i+bs], b[j:j+bb:j+bb])
		}
	}
}

// meanSquare is sum(x²)/len(x), summed in order.
func meanSquare(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s / float32(len(x))
}

// groupWeights fills dst with qw·sqrt(sigma2 + x²) and returns their sum.
func groupWeights(dst, x, qw []float32, sigma2 float32) (sum float32) {
	for i, v := range x {
		dst[i] = float32(qw[i] * sqrt32(sigma2+float32(v*v)))
		sum += dst[i]
	}
	return sum
}

// legacyRows fits each 32-weight block of x, with its weights, into the
// bb bytes of its block in b.
func legacyRows(x, w []float32, b []byte, bb int, fit func(xb, weight []float32, y []byte)) {
	sigma2 := meanSquare(x)
	var weight [qk]float32
	for ib := 0; ib < len(x)/qk; ib++ {
		xb := x[qk*ib : qk*ib+qk]
		groupWeights(weight[:], xb, w[qk*ib:], sigma2)
		fit(xb, weight[:], b[bb*ib:bb*ib+bb])
	}
}

func rowQ4_0(x, w []float32, b []byte) {
	legacyRows(x, w, b, 18, func(xb, weight []float32, y []byte) {
		var L [qk]int8
		le.PutUint16(y, fp16(makeQXQuantsW(xb, L[:], 8, weight)))
		for j := 0; j < qk/2; j++ {
			y[2+j] = uint8(L[j]) | uint8(L[j+qk/2])<<4
		}
	})
}

// fitMin is a block's asymmetric fit, make_qkx3_quants: levels 0..nmax into
// L, and d and -min stored at y[0:4].
func fitMin(xb, weight []float32, y []byte, L *[qk]uint8, nmax int32) {
	var m float32
	d := makeQKX2Quants(xb, weight, L[:], &m, nmax, -0.9, 0.05, 36, false) // make_qkx3_quants
	le.PutUint16(y, fp16(d))
	le.PutUint16(y[2:], fp16(-m))
}

func rowQ4_1(x, w []float32, b []byte) {
	legacyRows(x, w, b, 20, func(xb, weight []float32, y []byte) {
		var L [qk]uint8
		fitMin(xb, weight, y, &L, 15)
		for j := 0; j < qk/2; j++ {
			y[4+j] = L[j] | L[j+qk/2]<<4
		}
	})
}

// pack5 stores 32 five-bit levels as a Q5 block's qh (4 bytes) and qs (16).
func pack5(L *[qk]uint8, qh, qs []byte) {
	var h uint32
	for j := 0; j < qk/2; j++ {
		l0, l1 := L[j], L[j+qk/2]
		qs[j] = l0&0xf | (l1&0xf)<<4
		h |= uint32(l0&0x10) >> 4 << j
		h |= uint32(l1&0x10) >> 4 << (j + qk/2)
	}
	le.PutUint32(qh, h)
}

func rowQ5_0(x, w []float32, b []byte) {
	legacyRows(x, w, b, 22, func(xb, weight []float32, y []byte) {
		var L [qk]int8
		le.PutUint16(y, fp16(makeQXQuantsW(xb, L[:], 16, weight)))
		var U [qk]uint8
		for j, l := range L {
			U[j] = uint8(l)
		}
		pack5(&U, y[2:6], y[6:22])
	})
}

func rowQ5_1(x, w []float32, b []byte) {
	legacyRows(x, w, b, 24, func(xb, weight []float32, y []byte) {
		var L [qk]uint8
		fitMin(xb, weight, y, &L, 31)
		pack5(&L, y[4:8], y[8:24])
	})
}

// rowQ2_K: sixteen groups of 16 fitted with weights, then their scales and
// minimums fitted to 4 bits with the groups' weight sums, then every level
// requantized with the rounded scales.
func rowQ2_K(x, w []float32, b []byte) {
	var L [qkK]uint8
	var weight [16]float32
	var scales, mins, sw [16]float32
	var Ls, Lm [16]uint8
	for i := 0; i < len(x)/qkK; i++ {
		xs, qw, y := x[qkK*i:qkK*i+qkK], w[qkK*i:], b[84*i:84*i+84]
		sigma2 := meanSquare(xs)
		for j := range 16 {
			g := xs[16*j : 16*j+16]
			sw[j] = groupWeights(weight[:], g, qw[16*j:], sigma2)
			scales[j] = makeQKX2Quants(g, weight[:], L[16*j:], &mins[j], 3, -0.9, 0.05, 36, false) // make_qkx3_quants
		}
		dm := makeQPQuants(scales[:], Ls[:], 15, sw[:])
		mm := makeQPQuants(mins[:], Lm[:], 15, sw[:])
		le.PutUint16(y[80:], fp16(dm))
		le.PutUint16(y[82:], fp16(mm))
		for j := range 16 {
			y[j] = Ls[j] | Lm[j]<<4
		}
		requantQ2K((*[qkK]float32)(xs), (*[84]byte)(y), &L)
	}
}

// rowQ3_K: sixteen symmetric groups of 16 with weights, their scales fitted
// to 6 bits with the groups' weight sums.
func rowQ3_K(x, w []float32, b []byte) {
	var L [qkK]int8
	var weight [16]float32
	var scales, sw [16]float32
	var Ls [16]int8
	for i := 0; i < len(x)/qkK; i++ {
		xs, qw, y := x[qkK*i:qkK*i+qkK], w[qkK*i:], b[110*i:110*i+110]
		sigma2 := 2 * meanSquare(xs)
		for j := range 16 {
			g := xs[16*j : 16*j+16]
			sw[j] = groupWeights(weight[:], g, qw[16*j:], sigma2)
			scales[j] = makeQXQuantsW(g, L[16*j:], 4, weight[:])
		}
		sc := (*[12]byte)(y[96:108])
		clear(sc[:])
		le.PutUint16(y[108:], fp16(makeQXQuantsW(scales[:], Ls[:], 32, sw[:])))
		for j, l := range Ls {
			putQ3Scale(sc, j, uint8(l))
		}
		requantQ3K((*[qkK]float32)(xs), (*[110]byte)(y), L)
	}
}

// fitQ45W is the shared part of the weighted Q4_K and Q5_K: eight groups of
// 32 fitted asymmetrically, their scales and minimums fitted to 6 bits,
// packed into y's d, dmin and scales, and the levels requantized into L.
func fitQ45W(xs, qw []float32, y []byte, L *[qkK]uint8, nmax int32) {
	var weight [8][32]float32
	var scales, mins, sw [8]float32
	var Ls, Lm [8]uint8
	sigma2 := 2 * meanSquare(xs)
	for j := range 8 {
		sw[j] = groupWeights(weight[j][:], xs[32*j:32*j+32], qw[32*j:], sigma2)
	}
	// make_qkx3_quants with use_mad false is make_qkx2_quants with
	// squared error: the eight groups at once.
	qkx2Eight((*[qkK]float32)(xs), &weight, L, &scales, &mins, nmax, -0.9, 0.05, 36)
	dBlock := makeQPQuants(scales[:], Ls[:], 63, sw[:])
	mBlock := makeQPQuants(mins[:], Lm[:], 63, sw[:])
	for j := range 8 { // Q4_K does not clamp; make_qp_quants keeps them <= 63 anyway
		Ls[j], Lm[j] = min(63, Ls[j]), min(63, Lm[j])
	}
	putScalesMinsK4(y, dBlock, mBlock, &Ls, &Lm)
	requantQ45((*[qkK]float32)(xs), y, L, nmax)
}

func rowQ4_K(x, w []float32, b []byte) {
	var L [qkK]uint8
	for i := 0; i < len(x)/qkK; i++ {
		y := b[144*i : 144*i+144]
		fitQ45W(x[qkK*i:qkK*i+qkK], w[qkK*i:], y, &L, 15)
		q := y[16:144]
		for j := 0; j < qkK; j += 64 {
			for l := range 32 {
				q[j/2+l] = L[j+l] | L[j+l+32]<<4
			}
		}
	}
}

func rowQ5_K(x, w []float32, b []byte) {
	var L [qkK]uint8
	for i := 0; i < len(x)/qkK; i++ {
		y := b[176*i : 176*i+176]
		fitQ45W(x[qkK*i:qkK*i+qkK], w[qkK*i:], y, &L, 31)
		qh, ql := y[16:48], y[48:176]
		clear(qh)
		for n := 0; n < qkK; n += 64 {
			for j := range 32 {
				l1, l2 := L[n+j], L[n+j+32]
				qh[j] |= l1>>4<<(n/32) | l2>>4<<(n/32+1)
				ql[n/2+j] = l1&0xf | (l2&0xf)<<4
			}
		}
	}
}

// rowQ6_K: sixteen symmetric groups of 16 weighted by the entry itself,
// their scales rounded to int8 under one half scale.
func rowQ6_K(x, w []float32, b []byte) {
	var L [qkK]int8
	var scales [16]float32
	for i := 0; i < len(x)/qkK; i++ {
		xs, qw, y := x[qkK*i:qkK*i+qkK], w[qkK*i:], b[210*i:210*i+210]
		for ib := range 16 {
			scales[ib] = makeQXQuantsW(xs[16*ib:16*ib+16], L[16*ib:], 32, qw[16*ib:16*ib+16])
		}
		packQ6K((*[qkK]float32)(xs), (*[210]byte)(y), &L, &scales)
	}
}
