//go:build !purego

#include "textflag.h"

// The step loop of make_qkx2_quants (squared error) for eight groups at once,
// one per lane of a YMM register: the same float32 operations in the same
// order as qkx2Generic's, per lane, none fused. See qkx2lanes.go.
//
// qkx2Lanes layout (bytes): x [32][8]float32 at 0, w at 1024, L [32][8]int32
// at 2048, lv (scratch levels) at 3072, then [8]float32 lo 4096, hi 4128,
// sumW 4160, sumX 4192, scale 4224, best 4256, lo0 4288, bad [8]int32
// 4320.

#define X_ 0
#define W_ 1024
#define L_ 2048
#define LV_ 3072
#define LO_ 4096
#define HI_ 4128
#define SUMW_ 4160
#define SUMX_ 4192
#define SCALE_ 4224
#define BEST_ 4256
#define LO0_ 4288
#define BAD_ 4320

// TRANSPOSE8 moves an 8×8 tile: eight rows of eight float32 at SRC+128·g
// (g = 0..7, one row per group) become eight lanes of eight groups at DST,
// DST+32, ... DST+224 (one per element). Clobbers Y0-Y11.
#define TRANSPOSE8(SRC, DST) \
	VMOVUPS SRC+0(SI), Y0; VMOVUPS SRC+128(SI), Y1; VMOVUPS SRC+256(SI), Y2; VMOVUPS SRC+384(SI), Y3; \
	VMOVUPS SRC+512(SI), Y4; VMOVUPS SRC+640(SI), Y5; VMOVUPS SRC+768(SI), Y6; VMOVUPS SRC+896(SI), Y7; \
	VUNPCKLPS Y1, Y0, Y8; VUNPCKHPS Y1, Y0, Y9; VUNPCKLPS Y3, Y2, Y10; VUNPCKHPS Y3, Y2, Y11; \
	VSHUFPS $0x44, Y10, Y8, Y0; VSHUFPS $0xee, Y10, Y8, Y1; VSHUFPS $0x44, Y11, Y9, Y2; VSHUFPS $0xee, Y11, Y9, Y3; \
	VUNPCKLPS Y5, Y4, Y8; VUNPCKHPS Y5, Y4, Y9; VUNPCKLPS Y7, Y6, Y10; VUNPCKHPS Y7, Y6, Y11; \
	VSHUFPS $0x44, Y10, Y8, Y4; VSHUFPS $0xee, Y10, Y8, Y5; VSHUFPS $0x44, Y11, Y9, Y6; VSHUFPS $0xee, Y11, Y9, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; VMOVUPS Y8, DST+0(DI); VPERM2F128 $0x31, Y4, Y0, Y8; VMOVUPS Y8, DST+128(DI); \
	VPERM2F128 $0x20, Y5, Y1, Y8; VMOVUPS Y8, DST+32(DI); VPERM2F128 $0x31, Y5, Y1, Y8; VMOVUPS Y8, DST+160(DI); \
	VPERM2F128 $0x20, Y6, Y2, Y8; VMOVUPS Y8, DST+64(DI); VPERM2F128 $0x31, Y6, Y2, Y8; VMOVUPS Y8, DST+192(DI); \
	VPERM2F128 $0x20, Y7, Y3, Y8; VMOVUPS Y8, DST+96(DI); VPERM2F128 $0x31, Y7, Y3, Y8; VMOVUPS Y8, DST+224(DI)

// func qkx2StepsAVX2(s *qkx2Lanes, x *[256]float32, w *[8][32]float32, nmax int32, rmin, rdelta float32, nstep int)
// w nil: the weights are fitQ45's (see rms).
TEXT ·qkx2StepsAVX2(SB), NOSPLIT, $0-48
	MOVQ s+0(FP), DI
	MOVQ nstep+40(FP), BX

	// Groups into lanes: x and w, group g's element i to [i][g].
	MOVQ x+8(FP), SI
	TRANSPOSE8(0, X_)
	TRANSPOSE8(32, X_+256)
	TRANSPOSE8(64, X_+512)
	TRANSPOSE8(96, X_+768)
	MOVQ w+16(FP), SI
	TESTQ SI, SI
	JZ rms
	TRANSPOSE8(0, W_)
	TRANSPOSE8(32, W_+256)
	TRANSPOSE8(64, W_+512)
	TRANSPOSE8(96, W_+768)
	JMP weighed

rms:
	// No weights given: fitQ45's, sqrt(Σx²/32) + |x| with the squares
	// summed in order.
	VXORPS Y1, Y1, Y1
	XORQ SI, SI

squares:
	VMOVUPS X_(DI)(SI*1), Y0
	VMULPS Y0, Y0, Y0
	VADDPS Y0, Y1, Y1
	ADDQ $32, SI
	CMPQ SI, $1024
	JLT squares
	MOVL $0x42000000, AX // 32.0
	VMOVD AX, X0
	VBROADCASTSS X0, Y0
	VDIVPS Y0, Y1, Y1
	VSQRTPS Y1, Y1
	MOVL $0x7fffffff, AX
	VMOVD AX, X2
	VPBROADCASTD X2, Y2
	XORQ SI, SI

weights:
	VMOVUPS X_(DI)(SI*1), Y0
	VANDPS Y2, Y0, Y0
	VADDPS Y0, Y1, Y0
	VMOVUPS Y0, W_(DI)(SI*1)
	ADDQ $32, SI
	CMPQ SI, $1024
	JLT weights

weighed:

	MOVL $0x4b400000, AX // 12582912.0: nearestInt's 1.5·2²³
	VMOVD AX, X0
	VPBROADCASTD X0, Y15
	MOVL $0x007fffff, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y14
	MOVL $0x00400000, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y13
	MOVL nmax+24(FP), AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y12
	VXORPS Y11, Y11, Y11

	// The range: lo = x < lo ? x : lo and hi = x > hi ? x : hi from x[0]
	// on (MINPS and MAXPS return their second operand unless the first
	// compares below or above it: ggml's comparisons, NaN and ±0 alike), lo
	// capped at 0; sumW and sumX from w[0] and w[0]·x[0] on.
	// Lanes with an infinity or a NaN in x or w are marked bad: the Go code
	// redoes them (NaN payloads could follow another operand order here).
	VMOVUPS X_(DI), Y9
	VMOVAPS Y9, Y1
	VMOVUPS W_(DI), Y2
	VMULPS Y9, Y2, Y3
	MOVL $0x7fffffff, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	MOVL $0x7f7fffff, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	VXORPS Y8, Y8, Y8
	XORQ SI, SI

rng:
	VMOVUPS X_(DI)(SI*1), Y0
	VMOVUPS W_(DI)(SI*1), Y4
	VANDPS Y6, Y0, Y5
	VPCMPGTD Y7, Y5, Y5
	VPOR Y5, Y8, Y8
	VANDPS Y6, Y4, Y5
	VPCMPGTD Y7, Y5, Y5
	VPOR Y5, Y8, Y8
	TESTQ SI, SI
	JZ rngnext
	VMINPS Y9, Y0, Y9
	VMAXPS Y1, Y0, Y1
	VADDPS Y4, Y2, Y2
	VMULPS Y0, Y4, Y4
	VADDPS Y4, Y3, Y3

rngnext:
	ADDQ $32, SI
	CMPQ SI, $1024
	JLT rng
	VMOVDQU Y8, BAD_(DI)
	VMINPS Y9, Y11, Y9
	VMOVUPS Y9, LO0_(DI)
	VMOVUPS Y1, HI_(DI)
	VMOVUPS Y2, SUMW_(DI)
	VMOVUPS Y3, SUMX_(DI)

	// The first fit: iscale = nmax/(hi - lo), scale = 1/iscale, its levels
	// and weighted squared error.
	VCVTDQ2PS Y12, Y0
	VSUBPS Y9, Y1, Y1
	VDIVPS Y1, Y0, Y10
	MOVL $0x3f800000, AX // 1.0
	VMOVD AX, X0
	VBROADCASTSS X0, Y0
	VDIVPS Y10, Y0, Y5
	VMOVUPS Y5, SCALE_(DI)
	VXORPS Y6, Y6, Y6
	XORQ SI, SI

fit:
	VMOVUPS X_(DI)(SI*1), Y2
	VSUBPS Y9, Y2, Y3
	VMULPS Y3, Y10, Y3
	VADDPS Y15, Y3, Y3
	VPAND Y14, Y3, Y3
	VPSUBD Y13, Y3, Y3
	VPMAXSD Y11, Y3, Y3
	VPMINSD Y12, Y3, Y3
	VMOVDQU Y3, L_(DI)(SI*1)
	VCVTDQ2PS Y3, Y4
	VMULPS Y4, Y5, Y4
	VADDPS Y9, Y4, Y4
	VSUBPS Y2, Y4, Y4
	VMULPS Y4, Y4, Y4
	VMULPS W_(DI)(SI*1), Y4, Y4
	VADDPS Y4, Y6, Y6
	ADDQ $32, SI
	CMPQ SI, $1024
	JLT fit
	VMOVUPS Y6, BEST_(DI)

	XORQ CX, CX // is

step:
	// iscale = (rmin + rdelta·is + nmax) / (hi - lo), rounded at each step.
	VCVTSI2SSQ CX, X0, X0
	VMULSS rdelta+32(FP), X0, X0
	VADDSS rmin+28(FP), X0, X0
	VCVTSI2SSL nmax+24(FP), X1, X1
	VADDSS X1, X0, X0
	VBROADCASTSS X0, Y0
	VMOVUPS HI_(DI), Y1
	VSUBPS Y9, Y1, Y1
	VDIVPS Y1, Y0, Y10

	// Levels and the sums of w·l, w·l², w·l·x, element by element.
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	XORQ SI, SI

sums:
	VMOVUPS X_(DI)(SI*1), Y2
	VSUBPS Y9, Y2, Y3
	VMULPS Y3, Y10, Y3
	VADDPS Y15, Y3, Y3
	VPAND Y14, Y3, Y3
	VPSUBD Y13, Y3, Y3
	VPMAXSD Y11, Y3, Y3
	VPMINSD Y12, Y3, Y3
	VMOVDQU Y3, LV_(DI)(SI*1)
	VCVTDQ2PS Y3, Y4
	VMOVUPS W_(DI)(SI*1), Y5
	VMULPS Y4, Y5, Y5
	VADDPS Y5, Y6, Y6
	VMULPS Y4, Y5, Y3
	VADDPS Y3, Y7, Y7
	VMULPS Y2, Y5, Y2
	VADDPS Y2, Y8, Y8
	ADDQ $32, SI
	CMPQ SI, $1024
	JLT sums

	// D = sumW·sumL2 - sumL·sumL; scale and min from the normal equations;
	// a positive min is clamped to 0 with scale sumXL/sumL2.
	VMOVUPS SUMW_(DI), Y0
	VMOVUPS SUMX_(DI), Y1
	VMULPS Y7, Y0, Y2
	VMULPS Y6, Y6, Y3
	VSUBPS Y3, Y2, Y2 // D
	VCMPPS $0x1e, Y11, Y2, Y5 // D > 0 (ordered)
	VMULPS Y8, Y0, Y3
	VMULPS Y6, Y1, Y4
	VSUBPS Y4, Y3, Y3
	VDIVPS Y2, Y3, Y3 // this scale
	VMULPS Y1, Y7, Y4
	VMULPS Y8, Y6, Y0
	VSUBPS Y0, Y4, Y4
	VDIVPS Y2, Y4, Y4 // this min
	VCMPPS $0x1e, Y11, Y4, Y0 // min > 0
	VANDNPS Y4, Y0, Y4
	VDIVPS Y7, Y8, Y1
	VBLENDVPS Y0, Y1, Y3, Y3

	// The weighted squared error of scale·l + min against x.
	VXORPS Y6, Y6, Y6
	XORQ SI, SI

errs:
	VCVTDQ2PS LV_(DI)(SI*1), Y0
	VMULPS Y0, Y3, Y0
	VADDPS Y4, Y0, Y0
	VSUBPS X_(DI)(SI*1), Y0, Y0
	VMULPS Y0, Y0, Y0
	VMULPS W_(DI)(SI*1), Y0, Y0
	VADDPS Y0, Y6, Y6
	ADDQ $32, SI
	CMPQ SI, $1024
	JLT errs

	// Lanes whose error is below their best take this step's fit.
	VMOVUPS BEST_(DI), Y0
	VCMPPS $0x11, Y0, Y6, Y1 // err < best (ordered)
	VANDPS Y5, Y1, Y1
	VMOVMSKPS Y1, AX
	TESTL AX, AX
	JZ next
	VBLENDVPS Y1, Y6, Y0, Y0
	VMOVUPS Y0, BEST_(DI)
	VMOVUPS SCALE_(DI), Y0
	VBLENDVPS Y1, Y3, Y0, Y0
	VMOVUPS Y0, SCALE_(DI)
	VBLENDVPS Y1, Y4, Y9, Y9
	XORQ SI, SI

take:
	VMOVDQU L_(DI)(SI*1), Y0
	VBLENDVPS Y1, LV_(DI)(SI*1), Y0, Y0
	VMOVDQU Y0, L_(DI)(SI*1)
	ADDQ $32, SI
	CMPQ SI, $1024
	JLT take

next:
	INCQ CX
	CMPQ CX, BX
	JLE step

	VMOVUPS Y9, LO_(DI)
	VZEROUPPER
	RET

DATA q45perm<>+0(SB)/4, $0
DATA q45perm<>+4(SB)/4, $4
DATA q45perm<>+8(SB)/4, $1
DATA q45perm<>+12(SB)/4, $5
DATA q45perm<>+16(SB)/4, $2
DATA q45perm<>+20(SB)/4, $6
DATA q45perm<>+24(SB)/4, $3
DATA q45perm<>+28(SB)/4, $7
GLOBL q45perm<>(SB), RODATA|NOPTR, $32

// func q45RequantAVX2(x *[256]float32, dl, ml *[8]float32, L *[256]uint8, nmax int32)
// Group j's levels clamp(nearestInt((x+ml)/dl), 0, nmax), as fitQ45's last
// loop computes them; a group whose dl compares equal to 0 keeps its levels.
TEXT ·q45RequantAVX2(SB), NOSPLIT, $0-36
	MOVQ x+0(FP), SI
	MOVQ dl+8(FP), BX
	MOVQ ml+16(FP), DX
	MOVQ L+24(FP), DI
	MOVL $0x4b400000, AX // 12582912.0: nearestInt's 1.5·2²³
	VMOVD AX, X0
	VPBROADCASTD X0, Y15
	MOVL $0x007fffff, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y14
	MOVL $0x00400000, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y13
	MOVL nmax+32(FP), AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y12
	VXORPS Y11, Y11, Y11
	VMOVDQU q45perm<>(SB), Y10
	XORQ CX, CX

group:
	VMOVSS (BX)(CX*4), X8
	VUCOMISS X11, X8
	JPS compute // NaN: not equal to 0
	JEQ skip

compute:
	VBROADCASTSS X8, Y8
	VBROADCASTSS (DX)(CX*4), Y9
	VADDPS 0(SI), Y9, Y0
	VADDPS 32(SI), Y9, Y1
	VADDPS 64(SI), Y9, Y2
	VADDPS 96(SI), Y9, Y3
	VDIVPS Y8, Y0, Y0
	VDIVPS Y8, Y1, Y1
	VDIVPS Y8, Y2, Y2
	VDIVPS Y8, Y3, Y3
	VADDPS Y15, Y0, Y0
	VADDPS Y15, Y1, Y1
	VADDPS Y15, Y2, Y2
	VADDPS Y15, Y3, Y3
	VPAND Y14, Y0, Y0
	VPAND Y14, Y1, Y1
	VPAND Y14, Y2, Y2
	VPAND Y14, Y3, Y3
	VPSUBD Y13, Y0, Y0
	VPSUBD Y13, Y1, Y1
	VPSUBD Y13, Y2, Y2
	VPSUBD Y13, Y3, Y3
	VPMAXSD Y11, Y0, Y0
	VPMAXSD Y11, Y1, Y1
	VPMAXSD Y11, Y2, Y2
	VPMAXSD Y11, Y3, Y3
	VPMINSD Y12, Y0, Y0
	VPMINSD Y12, Y1, Y1
	VPMINSD Y12, Y2, Y2
	VPMINSD Y12, Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKUSWB Y2, Y0, Y0
	VPERMD Y0, Y10, Y0
	VMOVDQU Y0, 0(DI)

skip:
	ADDQ $128, SI
	ADDQ $32, DI
	INCQ CX
	CMPQ CX, $8
	JLT group
	VZEROUPPER
	RET
