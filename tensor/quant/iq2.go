package quant

import "github.com/mlmf-run/mlmf-run/tensor"

// IQ2_XXS, IQ2_XS and IQ2_S: vectors of 8 magnitudes snapped to a 256-,
// 512- or 1024-point lattice of odd levels 1, 3, 5, signs stored apart, a
// 4-bit scale per 32 (XXS) or 16 (XS, S) elements. ggml's quantize_iq2_xxs,
// quantize_iq2_xs (both only with an imatrix) and quantize_iq2_s. IQ2_XXS
// starts from make_qp_quants (makeQPQuants, in imatrix_search.go).

func init() {
	rowQuantizers[tensor.IQ2_XXS] = quantRowIQ2XXS
	rowQuantizers[tensor.IQ2_XS] = quantRowIQ2XS
	rowQuantizers[tensor.IQ2_S] = quantRowIQ2S
}

const groupMaxEpsIQ2S float32 = 1e-8

var (
	searchIQ2XS = searchParams{center: 5, step: 0.1, isMax: 9, skipOn: true, refitOn: true}
	searchIQ2S  = searchParams{center: 5, step: 0.1, isMax: 9, skipOn: true, refitOn: true}
)

// packScale is a group scale as the 4-bit l of d·(2l+1) (oddLevel).
func packScale(id, s float32) uint32 { return uint32(oddLevel(id, s, 16)) }

// IQ2_XXS block: d (fp16), then per 32 two uint32: four grid indices (a byte
// each), and four 7-bit sign groups with the 4-bit scale on top.
func quantRowIQ2XXS(x, w []float32, b []byte) {
	lat := lattice(latIQ2XXS)
	var weight, waux, xval [32]float32
	var L, Laux [32]int8
	var Lqp [32]uint8 // make_qp_quants' levels: unused, as in ggml
	var scales [8]float32
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xs, y := x[qkK*ibl:qkK*ibl+qkK], b[66*ibl:66*ibl+66]
		clear(y)
		sigma2 := sumSquares(xs) / qkK
		var maxScale float32
		for ib := range scales {
			xb, qw := xs[32*ib:32*ib+32], w[qkK*ibl+32*ib:qkK*ibl+32*ib+32]
			iqWeights(xb, qw, weight[:], waux[:], sigma2)
			var signs [4]uint8
			for k := range signs {
				signs[k] = evenSigns(xb[8*k:], weight[8*k:], xval[8*k:])
			}
			if maxOf(xval[:]) < groupMaxEps {
				scales[ib] = 0
				clear(L[:])
				continue
			}
			scale := makeQPQuants(xval[:], Lqp[:], 4, weight[:])
			effMax := float32(scale * 3)
			if effMax <= 0 {
				scales[ib] = 0
				clear(L[:])
				continue
			}
			var best float32
			for is := -6; is <= 6; is++ {
				id := (5 + float32(float32(is)*0.1)) / effMax
				thisScale := 1 / id
				for k := 0; k < 4; k++ {
					lat.snap(xval[8*k:8*k+8], waux[8*k:8*k+8], Laux[8*k:8*k+8], id, thisScale)
				}
				sumqx, sumq2 := oddFit(xval[:], weight[:], Laux[:])
				if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
					scale = sumqx / sumq2
					best = float32(scale * sumqx)
					L = Laux
				}
			}
			if scale > 0 {
				id := 1 / scale
				for k := 0; k < 4; k++ {
					lat.snap(xval[8*k:8*k+8], waux[8*k:8*k+8], L[8*k:8*k+8], id, scale)
				}
				if sumqx, sumq2 := oddFit(xval[:], weight[:], L[:]); sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			var grid, sg uint32
			for k := 0; k < 4; k++ {
				grid |= uint32(lat.gridIndex(L[8*k:])) << (8 * k)
				sg |= uint32(signs[k]) << (7 * k)
			}
			le.PutUint32(y[2+8*ib:], grid)
			le.PutUint32(y[6+8*ib:], sg)
			scales[ib] = scale
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			clear(y)
			continue
		}
		d := maxScale / 31
		le.PutUint16(y, fp16(d))
		id := 1 / d
		for ib, s := range scales {
			p := y[6+8*ib:]
			le.PutUint32(p, le.Uint32(p)|packScale(id, s)<<28)
		}
	}
}

// iq2Group16 quantizes the 16 values xb of IQ2_XS and IQ2_S: their levels
// go to L, the returned scale is the group's, signs the two sign bytes
// (IQ2_XS: 7 bits with even parity; IQ2_S: 8 bits).
func iq2Group16(lat *iqLattice, p searchParams, xb, weight, waux []float32, L []int8, even bool, eps float32) (scale float32, signs [2]uint8, ok bool) {
	var xval [16]float32
	if even {
		for k := 0; k < 2; k++ {
			signs[k] = evenSigns(xb[8*k:], weight[8*k:], xval[8*k:])
		}
	} else {
		splitSigns(xb[:16], xval[:], signs[:])
	}
	max := maxOf(xval[:])
	if max < eps {
		return 0, signs, false
	}
	scale = lat.search(p, xval[:], weight, waux, L, max)
	if scale < 0 {
		scale = -scale
		for k := range signs {
			signs[k] = ^signs[k]
			if even {
				signs[k] &= 127
			}
		}
	}
	return scale, signs, true
}

// IQ2_XS block: d (fp16), qs[32] (uint16: a 9-bit grid index and 7 sign
// bits per 8), scales[8] (a nibble per 16).
func quantRowIQ2XS(x, w []float32, b []byte) {
	lat := lattice(latIQ2XS)
	var weight, waux [16]float32
	var L [16]int8
	var scales [16]float32
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xs, y := x[qkK*ibl:qkK*ibl+qkK], b[74*ibl:74*ibl+74]
		clear(y)
		sigma2 := sumSquares(xs) / qkK
		var maxScale float32
		for ib := range scales {
			xb, qw := xs[16*ib:16*ib+16], w[qkK*ibl+16*ib:qkK*ibl+16*ib+16]
			iqWeights(xb, qw, weight[:], waux[:], sigma2)
			clear(L[:])
			scale, signs, ok := iq2Group16(lat, searchIQ2XS, xb, weight[:], waux[:], L[:], true, groupMaxEps)
			if !ok {
				scales[ib] = 0
				continue
			}
			for k := 0; k < 2; k++ {
				le.PutUint16(y[2+2*(2*ib+k):], uint16(lat.gridIndex(L[8*k:]))|uint16(signs[k])<<9)
			}
			scales[ib] = scale
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			clear(y)
			continue
		}
		d := maxScale / 31
		le.PutUint16(y, fp16(d))
		id := 1 / d
		for ib, s := range scales {
			y[66+ib/2] |= uint8(packScale(id, s) << (4 * (ib % 2)))
		}
	}
}

// IQ2_S block: d (fp16), qs[32] (low 8 bits of the grid indices), signs[32]
// (a byte per 8), qh[8] (the indices' two high bits), scales[8].
func quantRowIQ2S(x, w []float32, b []byte) {
	lat := lattice(latIQ2S)
	var weight, waux [16]float32
	var L [16]int8
	var scales [16]float32
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xs, y := x[qkK*ibl:qkK*ibl+qkK], b[82*ibl:82*ibl+82]
		clear(y)
		sigma2 := float32(2*sumSquares(xs)) / qkK
		var maxScale float32
		for ib := range scales {
			xb := xs[16*ib : 16*ib+16]
			if w != nil {
				iqWeights(xb, w[qkK*ibl+16*ib:qkK*ibl+16*ib+16], weight[:], waux[:], sigma2)
			} else {
				for i, v := range xb {
					weight[i] = float32(0.25*sigma2) + float32(v*v)
					waux[i] = sqrt32(weight[i])
				}
			}
			clear(L[:])
			scale, signs, ok := iq2Group16(lat, searchIQ2S, xb, weight[:], waux[:], L[:], false, groupMaxEpsIQ2S)
			if !ok {
				scales[ib] = 0
				continue
			}
			for k := 0; k < 2; k++ {
				i8 := 2*ib + k
				g := lat.gridIndex(L[8*k:])
				y[2+i8] = uint8(g)
				y[66+i8/4] |= uint8(g>>8) << (2 * (i8 % 4))
				y[34+i8] = signs[k]
			}
			scales[ib] = scale
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		le.PutUint16(y, fp16(float32(d*0.9875)))
		id := 1 / d
		for ib, s := range scales {
			y[74+ib/2] |= uint8(packScale(id, s) << (4 * (ib % 2)))
		}
	}
}
