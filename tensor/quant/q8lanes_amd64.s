//go:build !purego

#include "textflag.h"

// One Q8_0 block with AVX2: the same float32 operations as quantQ8_0 (the
// largest magnitude, d = amax/127, id = 1/d or 0, x·id rounded half away
// from zero), eight lanes at a time. The rounding adds 0.5 less half an
// ulp of 0.5 (0.49999997) with x·id's sign and truncates, which equals
// roundf for every float32 below 2²³. A block holding an infinity or a NaN
// is left to the Go code (ok false, nothing written): the Go maximum keeps
// ggml's order-dependent NaN result, and int8 conversion of NaN differs; so
// is one whose scale is subnormal (below).

DATA q8absmask<>+0(SB)/4, $0x7fffffff
GLOBL q8absmask<>(SB), RODATA|NOPTR, $4
DATA q8maxfinite<>+0(SB)/4, $0x7f7fffff
GLOBL q8maxfinite<>(SB), RODATA|NOPTR, $4
DATA q8half<>+0(SB)/4, $0x3effffff // 0.49999997
GLOBL q8half<>(SB), RODATA|NOPTR, $4
DATA q8signmask<>+0(SB)/4, $0x80000000
GLOBL q8signmask<>(SB), RODATA|NOPTR, $4
DATA q8d127<>+0(SB)/4, $0x42fe0000 // 127.0
GLOBL q8d127<>(SB), RODATA|NOPTR, $4
DATA q8one<>+0(SB)/4, $0x3f800000
GLOBL q8one<>(SB), RODATA|NOPTR, $4
DATA q8perm<>+0(SB)/4, $0
DATA q8perm<>+4(SB)/4, $4
DATA q8perm<>+8(SB)/4, $1
DATA q8perm<>+12(SB)/4, $5
DATA q8perm<>+16(SB)/4, $2
DATA q8perm<>+20(SB)/4, $6
DATA q8perm<>+24(SB)/4, $3
DATA q8perm<>+28(SB)/4, $7
GLOBL q8perm<>(SB), RODATA|NOPTR, $32

// func q8BlockAVX2(x *[32]float32, q *[32]byte) (d float32, ok bool)
TEXT ·q8BlockAVX2(SB), NOSPLIT, $0-21
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3

	VBROADCASTSS q8absmask<>(SB), Y8
	VANDPS Y8, Y0, Y4
	VANDPS Y8, Y1, Y5
	VANDPS Y8, Y2, Y6
	VANDPS Y8, Y3, Y7

	// Any |x| above the largest finite float32 (as integers): inf or NaN.
	VPBROADCASTD q8maxfinite<>(SB), Y9
	VPCMPGTD Y9, Y4, Y10
	VPCMPGTD Y9, Y5, Y11
	VPOR Y11, Y10, Y10
	VPCMPGTD Y9, Y6, Y11
	VPOR Y11, Y10, Y10
	VPCMPGTD Y9, Y7, Y11
	VPOR Y11, Y10, Y10
	VPTEST Y10, Y10
	JNZ nonfinite

	// amax: finite values, so the order of the maxima does not matter.
	VMAXPS Y5, Y4, Y4
	VMAXPS Y7, Y6, Y6
	VMAXPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMAXPS X5, X4, X4 // amax in every element

	VDIVSS q8d127<>(SB), X4, X4 // d = amax/127
	// A subnormal d makes 1/d inexact or infinite, and x·id may round past
	// 127, where int8 conversion wraps in Go and saturates here.
	VMOVD X4, AX
	CMPL AX, $0x00800000
	JCC normal
	TESTL AX, AX
	JNZ nonfinite

normal:
	VMOVSS X4, d+16(FP)
	VXORPS X5, X5, X5
	VCMPSS $4, X5, X4, X6 // d != 0
	VMOVSS q8one<>(SB), X7
	VDIVSS X4, X7, X7 // 1/d
	VANDPS X6, X7, X7 // id: 0 when d is 0
	VBROADCASTSS X7, Y7

	VBROADCASTSS q8half<>(SB), Y9
	VBROADCASTSS q8signmask<>(SB), Y10
	VMULPS Y7, Y0, Y0
	VMULPS Y7, Y1, Y1
	VMULPS Y7, Y2, Y2
	VMULPS Y7, Y3, Y3
	VANDPS Y10, Y0, Y4
	VORPS Y9, Y4, Y4
	VADDPS Y4, Y0, Y0
	VANDPS Y10, Y1, Y4
	VORPS Y9, Y4, Y4
	VADDPS Y4, Y1, Y1
	VANDPS Y10, Y2, Y4
	VORPS Y9, Y4, Y4
	VADDPS Y4, Y2, Y2
	VANDPS Y10, Y3, Y4
	VORPS Y9, Y4, Y4
	VADDPS Y4, Y3, Y3
	VCVTTPS2DQ Y0, Y0
	VCVTTPS2DQ Y1, Y1
	VCVTTPS2DQ Y2, Y2
	VCVTTPS2DQ Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VMOVDQU q8perm<>(SB), Y1
	VPERMD Y0, Y1, Y0
	VMOVDQU Y0, 0(DI)
	MOVB $1, ok+20(FP)
	VZEROUPPER
	RET

nonfinite:
	MOVB $0, ok+20(FP)
	VZEROUPPER
	RET
