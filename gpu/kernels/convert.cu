// Dtype conversion between F32, F16 and BF16, one element per thread, as
// tensor.Convert does it (decode to float32 exactly, round once).
#include "common.cuh"

KDEV void enc_f32(const float* x, u8* y) { put32(y, f2u(x[0])); }
KDEV void enc_f16(const float* x, u8* y) { put16(y, f16(x[0])); }
KDEV void enc_bf16(const float* x, u8* y) { put16(y, bf16(x[0])); }

ENCODERS(f32, 1, 4, enc_f32)
ENCODERS(f16, 1, 2, enc_f16)
ENCODERS(bf16, 1, 2, enc_bf16)
