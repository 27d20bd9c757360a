package quant

// Q6_K fits sixteen 16-weight sub-blocks per super-block with
// make_qx_quants, each a chain of dependent float32 sums in ggml's order.
// q6Sixteen runs them eight at a time, one per lane of an AVX2 register
// (q6lanes_amd64.s), every lane doing exactly makeQXQuants' float32
// operations for its sub-block, in its order, unfused, and taking an
// improving trial by a per-lane select. Sub-blocks holding an infinity or a
// NaN, or all but zero, take makeQ6Quants afterwards; elsewhere, or built
// with -tags purego, every sub-block does.

// q6Lanes is eight sub-blocks' state, element i of sub-block g at [i][g];
// the assembly knows its layout (and uses the fields Go does not read).
//
//lint:ignore U1000 the assembly reads and writes every field
type q6Lanes struct {
	x, w, wx         [16][8]float32
	L, lv            [16][8]int32 // the best levels + 32; a trial's levels
	max, scale, best [8]float32
	alone            [8]int32 // an infinity or NaN, or all but zero: for the Go code
}

// q6Sixteen fits x's sixteen sub-blocks as makeQ6Quants does, one at a
// time: levels (+32) into L, scales into scales.
func q6Sixteen(x *[qkK]float32, L *[qkK]int8, scales *[16]float32) {
	if !haveLanes {
		for ib := range 16 {
			scales[ib] = makeQ6Quants((*[16]float32)(x[16*ib:]), (*[16]int8)(L[16*ib:]))
		}
		return
	}
	for half := 0; half < 16; half += 8 {
		var s q6Lanes // the assembly moves the sub-blocks into its lanes
		q6Steps(&s, (*[128]float32)(x[16*half:]))
		for g := range 8 {
			ib := half + g
			if s.alone[g] != 0 {
				scales[ib] = makeQ6Quants((*[16]float32)(x[16*ib:]), (*[16]int8)(L[16*ib:]))
				continue
			}
			for i := range 16 {
				L[16*ib+i] = int8(s.L[i][g])
			}
			scales[ib] = s.scale[g]
		}
	}
}
