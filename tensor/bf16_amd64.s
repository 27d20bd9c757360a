//go:build !purego

#include "textflag.h"

// func bf16DecodeAVX2(dst *float32, src *byte, n int)
// n is a multiple of 16: each BF16 value becomes the float32 with its bits
// in the upper half, exactly as the Go loop makes it.
TEXT ·bf16DecodeAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ done

loop:
	VPMOVZXWD 0(SI), Y0
	VPMOVZXWD 16(SI), Y1
	VPSLLD $16, Y0, Y0
	VPSLLD $16, Y1, Y1
	VMOVDQU Y0, 0(DI)
	VMOVDQU Y1, 32(DI)
	ADDQ $32, SI
	ADDQ $64, DI
	DECQ CX
	JNZ loop
	VZEROUPPER

done:
	RET
