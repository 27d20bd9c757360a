//go:build !purego

#include "textflag.h"

// quantize_row_iq4_nl_impl's scale search (iq4Group) for eight 32-weight
// groups at once, one per lane: the same float32 operations as iq4Group, in
// its order, unfused; a trial that improves a lane is taken by a per-lane
// select. See iq4lanes.go.
//
// iq4Lanes layout (bytes): x [32][8]float32 at 0, w at 1024, d [8]float32
// at 2048.

#define X_ 0
#define W_ 1024
#define D_ 2048

// TRANSPOSE8G moves an 8×8 tile: eight rows of eight float32 at SRC+128·g
// (g = 0..7, one row per group of 32) become eight lanes at DST, DST+32,
// ... DST+224 (one per element). Clobbers Y0-Y11.
#define TRANSPOSE8G(SRC, DST) \
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

// val[15] and val[0] of the codebook; the trials' numerators itry+val[0].
DATA iq4hi<>+0(SB)/4, $0x42e20000
DATA iq4hi<>+4(SB)/4, $0x42e20000
DATA iq4hi<>+8(SB)/4, $0x42e20000
DATA iq4hi<>+12(SB)/4, $0x42e20000
DATA iq4hi<>+16(SB)/4, $0x42e20000
DATA iq4hi<>+20(SB)/4, $0x42e20000
DATA iq4hi<>+24(SB)/4, $0x42e20000
DATA iq4hi<>+28(SB)/4, $0x42e20000
GLOBL iq4hi<>(SB), RODATA|NOPTR, $32
DATA iq4lo<>+0(SB)/4, $0xc2fe0000
DATA iq4lo<>+4(SB)/4, $0xc2fe0000
DATA iq4lo<>+8(SB)/4, $0xc2fe0000
DATA iq4lo<>+12(SB)/4, $0xc2fe0000
DATA iq4lo<>+16(SB)/4, $0xc2fe0000
DATA iq4lo<>+20(SB)/4, $0xc2fe0000
DATA iq4lo<>+24(SB)/4, $0xc2fe0000
DATA iq4lo<>+28(SB)/4, $0xc2fe0000
GLOBL iq4lo<>(SB), RODATA|NOPTR, $32
DATA iq4trials<>+0(SB)/4, $0xc3060000 // -134.0
DATA iq4trials<>+4(SB)/4, $0xc3050000 // -133.0
DATA iq4trials<>+8(SB)/4, $0xc3040000 // -132.0
DATA iq4trials<>+12(SB)/4, $0xc3030000 // -131.0
DATA iq4trials<>+16(SB)/4, $0xc3020000 // -130.0
DATA iq4trials<>+20(SB)/4, $0xc3010000 // -129.0
DATA iq4trials<>+24(SB)/4, $0xc3000000 // -128.0
DATA iq4trials<>+28(SB)/4, $0xc2fe0000 // -127.0
DATA iq4trials<>+32(SB)/4, $0xc2fc0000 // -126.0
DATA iq4trials<>+36(SB)/4, $0xc2fa0000 // -125.0
DATA iq4trials<>+40(SB)/4, $0xc2f80000 // -124.0
DATA iq4trials<>+44(SB)/4, $0xc2f60000 // -123.0
DATA iq4trials<>+48(SB)/4, $0xc2f40000 // -122.0
DATA iq4trials<>+52(SB)/4, $0xc2f20000 // -121.0
DATA iq4trials<>+56(SB)/4, $0xc2f00000 // -120.0
GLOBL iq4trials<>(SB), RODATA|NOPTR, $60

// func iq4StepsAVX2(s *iq4Lanes, x, qw *[256]float32, sigma2 *[8]float32)
// x: eight groups of 32, one after another; qw: their importances (nil
// for none), sigma2 each group's. The weights are iq4Weights', the
// signed maximum iq4Group's; a group whose largest |x| is under
// groupMaxEps gets d 0.
TEXT ·iq4StepsAVX2(SB), NOSPLIT, $0-32
	MOVQ s+0(FP), DI
	MOVQ x+8(FP), SI
	TRANSPOSE8G(0, X_)
	TRANSPOSE8G(32, X_+256)
	TRANSPOSE8G(64, X_+512)
	TRANSPOSE8G(96, X_+768)
	MOVQ qw+16(FP), SI
	TESTQ SI, SI
	JZ weights
	TRANSPOSE8G(0, W_)
	TRANSPOSE8G(32, W_+256)
	TRANSPOSE8G(64, W_+512)
	TRANSPOSE8G(96, W_+768)

	// Per lane: the first largest |x| (Y1) and its signed value (Y15);
	// the weights qw·sqrt(sigma2 + x²), or x² without qw (SI is 0).
weights:
	MOVQ sigma2+24(FP), AX
	VMOVUPS (AX), Y13
	MOVL $0x7fffffff, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	VXORPS Y1, Y1, Y1
	VXORPS Y15, Y15, Y15
	XORQ CX, CX
wloop:
	VMOVUPS X_(DI)(CX*1), Y2
	VANDPS Y14, Y2, Y3
	VCMPPS $14, Y1, Y3, Y4 // |x| > amax
	VBLENDVPS Y4, Y3, Y1, Y1
	VBLENDVPS Y4, Y2, Y15, Y15
	VMULPS Y2, Y2, Y3
	TESTQ SI, SI
	JZ wstore
	VADDPS Y3, Y13, Y3
	VSQRTPS Y3, Y3
	VMULPS W_(DI)(CX*1), Y3, Y3
wstore:
	VMOVUPS Y3, W_(DI)(CX*1)
	ADDQ $32, CX
	CMPQ CX, $1024
	JLT wloop
	MOVL $0x26901d7d, AX // groupMaxEps, 1e-15
	VMOVD AX, X0
	VPBROADCASTD X0, Y0
	VCMPPS $1, Y0, Y1, Y0 // amax < eps: d is 0
	VMOVUPS Y0, D_(DI)

	LEAQ ·iq4Pairs+508(SB), R8 // iq4Pairs[127]: indexed by floor(x)
	LEAQ iq4trials<>(SB), R9

	// The first trial's inverse scale: 1/d, d = -max/val[0].
	MOVL $0x80000000, AX
	VMOVD AX, X3
	VPBROADCASTD X3, Y3
	VXORPS Y15, Y3, Y3
	VDIVPS iq4lo<>(SB), Y3, Y3
	MOVL $0x3f800000, AX // 1.0
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	VDIVPS Y3, Y12, Y12
	XORQ CX, CX // 0: the first trial; k: trial k-1 of the 15

	// One trial: per lane, sumqx += (w·q)·v and sumq2 += (w·q)·q over
	// the group in order, q the value of bestIndexInt8(id·v): id·v
	// clamped to [val[0], val[15]] (a NaN to val[15], where ggml's
	// bisection ends too), then the lower value of iq4Pairs' pair for its
	// floor when id·v is nearer to it than to the upper.
trial:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	XORQ SI, SI
pass:
	VMOVUPS X_(DI)(SI*1), Y2
	VMULPS Y2, Y12, Y3
	VMINPS iq4hi<>(SB), Y3, Y3
	VMAXPS iq4lo<>(SB), Y3, Y3
	VROUNDPS $1, Y3, Y4
	VCVTTPS2DQ Y4, Y4
	VPCMPEQD Y5, Y5, Y5
	VPGATHERDD Y5, (R8)(Y4*4), Y6
	VPSLLD $16, Y6, Y7
	VPSRAD $16, Y7, Y7
	VPSRAD $16, Y6, Y6
	VCVTDQ2PS Y7, Y7
	VCVTDQ2PS Y6, Y6
	VSUBPS Y7, Y3, Y8 // x - lo
	VSUBPS Y3, Y6, Y9 // hi - x
	VCMPPS $1, Y9, Y8, Y8
	VBLENDVPS Y8, Y7, Y6, Y10 // q
	VMOVUPS W_(DI)(SI*1), Y11
	VMULPS Y10, Y11, Y11 // w·q
	VMULPS Y2, Y11, Y8
	VADDPS Y8, Y0, Y0
	VMULPS Y10, Y11, Y9
	VADDPS Y9, Y1, Y1
	ADDQ $32, SI
	CMPQ SI, $1024
	JLT pass

	VXORPS Y3, Y3, Y3
	VCMPPS $14, Y3, Y1, Y4 // sumq2 > 0
	VDIVPS Y1, Y0, Y5 // sumqx/sumq2
	TESTQ CX, CX
	JNZ improve
	VANDPS Y4, Y5, Y13 // d (0 where sumq2 is not > 0)
	VMULPS Y0, Y13, Y14 // best = d·sumqx
	JMP next
improve:
	VMULPS Y0, Y0, Y6
	VMULPS Y1, Y14, Y7
	VCMPPS $14, Y7, Y6, Y6 // sumqx² > best·sumq2
	VANDPS Y4, Y6, Y6
	VMULPS Y0, Y5, Y7
	VBLENDVPS Y6, Y5, Y13, Y13
	VBLENDVPS Y6, Y7, Y14, Y14
next:
	CMPQ CX, $15
	JEQ done
	VBROADCASTSS (R9)(CX*4), Y12
	VDIVPS Y15, Y12, Y12 // id = (itry+val[0])/max
	INCQ CX
	JMP trial
done:
	VMOVUPS D_(DI), Y0
	VANDNPS Y13, Y0, Y13
	VMOVUPS Y13, D_(DI)
	VZEROUPPER
	RET

// CODES8 puts the codes of the eight weights at OFF(SI), times the inverse
// scale Y12, into Y(DST) as int32: bestIndexInt8 as in the search, the
// upper code iq4Mu[floor(x)] less one where the lower value is nearer.
// Clobbers Y2-Y9.
#define CODES8(OFF, DST) \
	VMULPS OFF(SI), Y12, Y3; \
	VMINPS iq4hi<>(SB), Y3, Y3; \
	VMAXPS iq4lo<>(SB), Y3, Y3; \
	VROUNDPS $1, Y3, Y4; \
	VCVTTPS2DQ Y4, Y4; \
	VPCMPEQD Y5, Y5, Y5; \
	VPGATHERDD Y5, (R8)(Y4*4), Y6; \
	VPCMPEQD Y5, Y5, Y5; \
	VPGATHERDD Y5, (R9)(Y4*4), DST; \
	VPSLLD $16, Y6, Y7; VPSRAD $16, Y7, Y7; VPSRAD $16, Y6, Y6; \
	VCVTDQ2PS Y7, Y7; VCVTDQ2PS Y6, Y6; \
	VSUBPS Y7, Y3, Y8; VSUBPS Y3, Y6, Y9; \
	VCMPPS $1, Y9, Y8, Y8; \
	VPADDD Y8, DST, DST

// func iq4PackAVX2(x *[32]float32, id float32, q *[16]byte)
// The codes of x·id, element j in the low nibble of q[j] and element j+16
// in its high nibble.
TEXT ·iq4PackAVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	VBROADCASTSS id+8(FP), Y12
	MOVQ q+16(FP), DI
	LEAQ ·iq4Pairs+508(SB), R8
	LEAQ ·iq4Mu+508(SB), R9
	CODES8(0, Y10)
	CODES8(32, Y11)
	CODES8(64, Y13)
	CODES8(96, Y14)
	VPSLLD $4, Y13, Y13
	VPOR Y13, Y10, Y10 // bytes 0-7
	VPSLLD $4, Y14, Y14
	VPOR Y14, Y11, Y11 // bytes 8-15
	VPACKUSDW Y11, Y10, Y10
	VPERMQ $0xd8, Y10, Y10
	VEXTRACTI128 $1, Y10, X11
	VPACKUSWB X11, X10, X10
	VMOVDQU X10, (DI)
	VZEROUPPER
	RET
