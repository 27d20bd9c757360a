//go:build !purego

#include "textflag.h"

// make_qx_quants with nmax 32 and weights x² (Q6_K's sub-block search) for
// eight 16-weight sub-blocks at once, one per lane: the same float32
// operations as makeQXQuants, in its order, unfused; a trial that improves a
// lane is taken by a per-lane select. See q6lanes.go.
//
// q6Lanes layout (bytes): x [16][8]float32 at 0, w (x²) at 512, wx (x²·x)
// at 1024, L [16][8]int32 at 1536, lv (scratch levels) at 2048, then
// [8]float32 max 2560, scale 2592, best 2624, [8]int32 alone 2656.

#define X_ 0
#define W_ 512
#define WX_ 1024
#define L_ 1536
#define LV_ 2048
#define MAX_ 2560
#define SCALE_ 2592
#define BEST_ 2624
#define ALONE_ 2656

// TRANSPOSE8 moves an 8×8 tile: eight rows of eight float32 at SRC+64·g
// (g = 0..7, one row per sub-block) become eight lanes at DST, DST+32, ...
// DST+224 (one per element). Clobbers Y0-Y11.
#define TRANSPOSE8(SRC, DST) \
	VMOVUPS SRC+0(SI), Y0; VMOVUPS SRC+64(SI), Y1; VMOVUPS SRC+128(SI), Y2; VMOVUPS SRC+192(SI), Y3; \
	VMOVUPS SRC+256(SI), Y4; VMOVUPS SRC+320(SI), Y5; VMOVUPS SRC+384(SI), Y6; VMOVUPS SRC+448(SI), Y7; \
	VUNPCKLPS Y1, Y0, Y8; VUNPCKHPS Y1, Y0, Y9; VUNPCKLPS Y3, Y2, Y10; VUNPCKHPS Y3, Y2, Y11; \
	VSHUFPS $0x44, Y10, Y8, Y0; VSHUFPS $0xee, Y10, Y8, Y1; VSHUFPS $0x44, Y11, Y9, Y2; VSHUFPS $0xee, Y11, Y9, Y3; \
	VUNPCKLPS Y5, Y4, Y8; VUNPCKHPS Y5, Y4, Y9; VUNPCKLPS Y7, Y6, Y10; VUNPCKHPS Y7, Y6, Y11; \
	VSHUFPS $0x44, Y10, Y8, Y4; VSHUFPS $0xee, Y10, Y8, Y5; VSHUFPS $0x44, Y11, Y9, Y6; VSHUFPS $0xee, Y11, Y9, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; VMOVUPS Y8, DST+0(DI); VPERM2F128 $0x31, Y4, Y0, Y8; VMOVUPS Y8, DST+128(DI); \
	VPERM2F128 $0x20, Y5, Y1, Y8; VMOVUPS Y8, DST+32(DI); VPERM2F128 $0x31, Y5, Y1, Y8; VMOVUPS Y8, DST+160(DI); \
	VPERM2F128 $0x20, Y6, Y2, Y8; VMOVUPS Y8, DST+64(DI); VPERM2F128 $0x31, Y6, Y2, Y8; VMOVUPS Y8, DST+192(DI); \
	VPERM2F128 $0x20, Y7, Y3, Y8; VMOVUPS Y8, DST+96(DI); VPERM2F128 $0x31, Y7, Y3, Y8; VMOVUPS Y8, DST+224(DI)

DATA q6trials<>+0(SB)/4, $-9
DATA q6trials<>+4(SB)/4, $-8
DATA q6trials<>+8(SB)/4, $-7
DATA q6trials<>+12(SB)/4, $-6
DATA q6trials<>+16(SB)/4, $-5
DATA q6trials<>+20(SB)/4, $-4
DATA q6trials<>+24(SB)/4, $-3
DATA q6trials<>+28(SB)/4, $-2
DATA q6trials<>+32(SB)/4, $-1
DATA q6trials<>+36(SB)/4, $1
DATA q6trials<>+40(SB)/4, $2
DATA q6trials<>+44(SB)/4, $3
DATA q6trials<>+48(SB)/4, $4
DATA q6trials<>+52(SB)/4, $5
DATA q6trials<>+56(SB)/4, $6
DATA q6trials<>+60(SB)/4, $7
DATA q6trials<>+64(SB)/4, $8
DATA q6trials<>+68(SB)/4, $9
GLOBL q6trials<>(SB), RODATA|NOPTR, $72

// func q6StepsAVX2(s *q6Lanes, x *[128]float32)
// x: eight sub-blocks of 16, one after another.
TEXT ·q6StepsAVX2(SB), NOSPLIT, $0-16
	MOVQ s+0(FP), DI
	MOVQ x+8(FP), SI
	TRANSPOSE8(0, X_)
	TRANSPOSE8(32, X_+256)

	// w = x·x, wx = w·x; per lane the first largest |x| and its signed
	// value (absMaxFinite's order), and whether the sub-block holds an
	// infinity or a NaN or is all but zero (the Go code does those).
	MOVL $0x7fffffff, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	MOVL $0x7f7fffff, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	VXORPS Y8, Y8, Y8 // bad
	VXORPS Y9, Y9, Y9 // |max| bits
	VXORPS Y10, Y10, Y10 // max
	XORQ SI, SI

prep:
	VMOVUPS X_(DI)(SI*1), Y0
	VMULPS Y0, Y0, Y1
	VMOVUPS Y1, W_(DI)(SI*1)
	VMULPS Y0, Y1, Y1
	VMOVUPS Y1, WX_(DI)(SI*1)
	VPAND Y6, Y0, Y2
	VPCMPGTD Y7, Y2, Y3
	VPOR Y3, Y8, Y8
	VPCMPGTD Y9, Y2, Y3 // |x| > amax
	VBLENDVPS Y3, Y2, Y9, Y9
	VBLENDVPS Y3, Y0, Y10, Y10
	ADDQ $32, SI
	CMPQ SI, $512
	JLT prep
	MOVL $0x26901d7d, AX // groupMaxEps, 1e-15
	VMOVD AX, X0
	VPBROADCASTD X0, Y0
	VCMPPS $0x11, Y0, Y9, Y1 // amax < eps
	VPOR Y1, Y8, Y8
	VMOVDQU Y8, ALONE_(DI)
	VMOVUPS Y10, MAX_(DI)

	MOVL $0x4b400000, AX // 12582912.0: nearestInt's 1.5·2²³
	VMOVD AX, X0
	VPBROADCASTD X0, Y15
	MOVL $0x007fffff, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y14
	MOVL $0x00400000, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y13
	MOVL $-32, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y12
	MOVL $31, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y11
	MOVL $32, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y9 // nmax, added to every stored level
	VMOVUPS MAX_(DI), Y8

	MOVQ $-1, CX // -1: the first fit; 0..17: the trials

scale:
	// iscale = -32/max for the first fit, -(32 + fl(0.1·is))/max for trial is.
	MOVL $0xc2000000, AX // -32.0
	VMOVD AX, X0
	TESTQ CX, CX
	JS divide
	LEAQ q6trials<>(SB), AX
	VCVTSI2SSL (AX)(CX*4), X0, X0
	MOVL $0x3dcccccd, AX // float32(0.1)
	VMOVD AX, X1
	VMULSS X1, X0, X0
	MOVL $0x42000000, AX // 32.0
	VMOVD AX, X1
	VADDSS X0, X1, X0
	MOVL $0x80000000, AX
	VMOVD AX, X1
	VXORPS X1, X0, X0

divide:
	VBROADCASTSS X0, Y0
	VDIVPS Y8, Y0, Y10

	// Levels clamp(nearestInt(iscale·x), -32, 31) into lv, and the sums
	// Y6 = Σ wx·l, Y7 = Σ (w·l)·l, element by element.
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ SI, SI

levels:
	VMULPS X_(DI)(SI*1), Y10, Y3
	VADDPS Y15, Y3, Y3
	VPAND Y14, Y3, Y3
	VPSUBD Y13, Y3, Y3
	VPMAXSD Y12, Y3, Y3
	VPMINSD Y11, Y3, Y3
	VMOVDQU Y3, LV_(DI)(SI*1)
	VCVTDQ2PS Y3, Y4
	VMULPS WX_(DI)(SI*1), Y4, Y5
	VADDPS Y5, Y6, Y6
	VMULPS W_(DI)(SI*1), Y4, Y5
	VMULPS Y4, Y5, Y5
	VADDPS Y5, Y7, Y7
	ADDQ $32, SI
	CMPQ SI, $512
	JLT levels

	VXORPS Y0, Y0, Y0
	TESTQ CX, CX
	JNS compare

	// First fit: its levels; scale = sumlx/suml2 where suml2 != 0
	// (unordered counts as not equal, as Go's != does), else 0; best =
	// scale·sumlx.
	VCMPPS $4, Y0, Y7, Y1
	VDIVPS Y7, Y6, Y2
	VANDPS Y1, Y2, Y2
	VMOVUPS Y2, SCALE_(DI)
	VMULPS Y6, Y2, Y2
	VMOVUPS Y2, BEST_(DI)
	VPCMPEQD Y1, Y1, Y1 // every lane takes these levels
	JMP take

compare:
	// A trial improves where suml2 > 0 and sumlx² > best·suml2.
	VCMPPS $0x1e, Y0, Y7, Y1
	VMULPS Y6, Y6, Y2
	VMOVUPS BEST_(DI), Y3
	VMULPS Y7, Y3, Y4
	VCMPPS $0x1e, Y4, Y2, Y2
	VANDPS Y2, Y1, Y1
	VMOVMSKPS Y1, AX
	TESTL AX, AX
	JZ next
	VDIVPS Y7, Y6, Y2 // scale = sumlx/suml2
	VMOVUPS SCALE_(DI), Y4
	VBLENDVPS Y1, Y2, Y4, Y4
	VMOVUPS Y4, SCALE_(DI)
	VMULPS Y6, Y2, Y2 // best = scale·sumlx
	VBLENDVPS Y1, Y2, Y3, Y3
	VMOVUPS Y3, BEST_(DI)

take:
	XORQ SI, SI

takeloop:
	VMOVDQU LV_(DI)(SI*1), Y0
	VPADDD Y9, Y0, Y0
	VMOVDQU L_(DI)(SI*1), Y2
	VBLENDVPS Y1, Y0, Y2, Y2
	VMOVDQU Y2, L_(DI)(SI*1)
	ADDQ $32, SI
	CMPQ SI, $512
	JLT takeloop

next:
	INCQ CX
	CMPQ CX, $18
	JLT scale

	VZEROUPPER
	RET

DATA q6perm<>+0(SB)/4, $0
DATA q6perm<>+4(SB)/4, $4
DATA q6perm<>+8(SB)/4, $1
DATA q6perm<>+12(SB)/4, $5
DATA q6perm<>+16(SB)/4, $2
DATA q6perm<>+20(SB)/4, $6
DATA q6perm<>+24(SB)/4, $3
DATA q6perm<>+28(SB)/4, $7
GLOBL q6perm<>(SB), RODATA|NOPTR, $32

// func q6RequantAVX2(x *[256]float32, dl *[16]float32, L *[256]int8)
// Sub-block j's levels clamp(nearestInt(x/dl), -32, 31) + 32, as
// quantQ6_K's last loop computes them; one whose dl compares equal to 0
// keeps its levels. Two sub-blocks at a time.
TEXT ·q6RequantAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ dl+8(FP), BX
	MOVQ L+16(FP), DI
	MOVL $0x4b400000, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y15
	MOVL $0x007fffff, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y14
	MOVL $0x00400000, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y13
	MOVL $-32, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y12
	MOVL $31, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y11
	MOVL $32, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y9
	VXORPS X7, X7, X7
	VMOVDQU q6perm<>(SB), Y10
	XORQ CX, CX

sub:
	VMOVSS (BX)(CX*4), X8
	VUCOMISS X7, X8
	JPS compute // NaN: not equal to 0
	JEQ skip

compute:
	VBROADCASTSS X8, Y8
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VDIVPS Y8, Y0, Y0
	VDIVPS Y8, Y1, Y1
	VADDPS Y15, Y0, Y0
	VADDPS Y15, Y1, Y1
	VPAND Y14, Y0, Y0
	VPAND Y14, Y1, Y1
	VPSUBD Y13, Y0, Y0
	VPSUBD Y13, Y1, Y1
	VPMAXSD Y12, Y0, Y0
	VPMAXSD Y12, Y1, Y1
	VPMINSD Y11, Y0, Y0
	VPMINSD Y11, Y1, Y1
	VPADDD Y9, Y0, Y0
	VPADDD Y9, Y1, Y1
	// 16 levels 0..63 to bytes: pack to words, then bytes, in order.
	VPACKSSDW Y1, Y0, Y0 // a0-3 b0-3 | a4-7 b4-7
	VPERMQ $0xd8, Y0, Y0 // a0-3 a4-7 | b0-3 b4-7
	VEXTRACTI128 $1, Y0, X1
	VPACKUSWB X1, X0, X0
	VMOVDQU X0, 0(DI)

skip:
	ADDQ $64, SI
	ADDQ $16, DI
	INCQ CX
	CMPQ CX, $16
	JLT sub
	VZEROUPPER
	RET
