//go:build !purego

package quant

//go:noescape
func q8BlockAVX2(x *[32]float32, q *[32]byte) (d float32, ok bool)

// q8Block quantizes one Q8_0 block's weights into q with AVX2 and returns
// its scale; ok is false (nothing written) without AVX2 or for a block
// holding an infinity or a NaN, or whose scale is subnormal.
func q8Block(x *[32]float32, q *[32]byte) (d float32, ok bool) {
	if !haveLanes {
		return 0, false
	}
	return q8BlockAVX2(x, q)
}
