//go:build !purego

package tensor

import "golang.org/x/sys/cpu"

//go:noescape
func bf16DecodeAVX2(dst *float32, src *byte, n int)

// bf16Decode widens the first multiple of 16 of len(dst) BF16 values of src
// (2 bytes each) with AVX2 and returns how many it did.
func bf16Decode(src []byte, dst []float32) int {
	n := len(dst) &^ 15
	if !cpu.X86.HasAVX2 || n == 0 {
		return 0
	}
	_ = src[2*n-1]
	bf16DecodeAVX2(&dst[0], &src[0], n)
	return n
}
