// Shared by every kernel file: the few lines that let one source compile
// both as CUDA (nvcc -ptx, see scripts/gen-ptx.sh) and as plain C++ for the
// host (gpu/host_test.go runs it on the CPU and compares every byte with the
// Go codecs, so the arithmetic is checked where no GPU is). Each kernel
// handles one block of its type per thread: THREAD_ID is that block's index.
//
// Bit-exactness rules, kept by every kernel: no fused multiply-adds (nvcc
// -fmad=false; the host build -ffp-contract=off), IEEE division and square
// root, float32 everywhere ggml computes in float32, sums in ggml's order,
// and float-to-int conversions as x86-64 does them (out of range or NaN
// gives INT32_MIN), since ggml's reference and our Go codecs run there.
#pragma once

#if defined(__NVCC__) || defined(__CUDA__)
#define KDEV __device__ static __forceinline__
#define KERNEL extern "C" __global__ void
typedef unsigned char u8;
typedef signed char i8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef long long i64;
#if defined(__NVCC__)
#define THREAD_ID ((long long)blockIdx.x * blockDim.x + threadIdx.x)
KDEV u32 f2u(float f) { return __float_as_uint(f); }
KDEV float u2f(u32 u) { return __uint_as_float(u); }
// IEEE square root and fused multiply-add whatever the flags say.
KDEV float ksqrt(float v) { return __fsqrt_rn(v); }
KDEV double kfma(double a, double b, double c) { return __fma_rn(a, b, c); }
#else
// clang -x cuda -nocudainc (scripts/gen-ptx.sh where nvcc is missing): no
// CUDA headers, so the attributes and special registers are spelled out;
// the LLVM intrinsics lower to sqrt.rn.f32 and fma.rn.f64.
#define __global__ __attribute__((global))
#define __device__ __attribute__((device))
#define __forceinline__ __attribute__((always_inline))
#define THREAD_ID \
  ((long long)__nvvm_read_ptx_sreg_ctaid_x() * __nvvm_read_ptx_sreg_ntid_x() + __nvvm_read_ptx_sreg_tid_x())
KDEV u32 f2u(float f) { return __builtin_bit_cast(u32, f); }
KDEV float u2f(u32 u) { return __builtin_bit_cast(float, u); }
KDEV float ksqrt(float v) { return __builtin_sqrtf(v); }
KDEV double kfma(double a, double b, double c) { return __builtin_fma(a, b, c); }
#endif
// x86nan gives a NaN that arithmetic made the bits x86 gives it (the
// negative "default NaN"): the GPU makes a positive one. Finite inputs
// reach NaN only through arithmetic (inf - inf, 0 * inf), so this keeps
// them bit-exact; NaN inputs are outside the promise (docs/gpu.md).
KDEV float x86nan(float v) { return v != v ? u2f(0xffc00000u) : v; }
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
#define KDEV static inline
#define KERNEL extern "C" void
extern long long mlmf_thread;  // set by the host harness before each call
#define THREAD_ID mlmf_thread
typedef uint8_t u8;
typedef int8_t i8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef int32_t i32;
typedef int64_t i64;
KDEV u32 f2u(float f) { u32 u; memcpy(&u, &f, 4); return u; }
KDEV float u2f(u32 u) { float f; memcpy(&f, &u, 4); return f; }
KDEV float ksqrt(float v) { return sqrtf(v); }
KDEV double kfma(double a, double b, double c) { return fma(a, b, c); }
KDEV float x86nan(float v) { return v; }
#endif

#define QK 32
#define QKK 256

KDEV float fabs32(float v) { return u2f(f2u(v) & 0x7fffffffu); }

// cvt32 is C's (int) of a float as x86-64's cvttss2si computes it.
KDEV i32 cvt32(float v) {
  if (v >= -2147483648.0f && v < 2147483648.0f) return (i32)v;
  return (i32)0x80000000u;
}

// cvt64 is the same for a double (cvttsd2si).
KDEV i32 cvt64(double v) {
  if (v > -2147483649.0 && v < 2147483648.0) return (i32)v;
  return (i32)0x80000000u;
}

// nearest_int is ggml's: the rounded integer read from the low mantissa
// bits of v + 1.5*2^23, wrapping outside +-2^22 exactly as ggml does.
KDEV i32 nearest_int(float v) {
  float t = x86nan(v) + 12582912.0f;
  return (i32)(f2u(x86nan(t)) & 0x007fffffu) - 0x00400000;
}

KDEV i32 clampi(i32 l, i32 lo, i32 hi) { return l < lo ? lo : (l > hi ? hi : l); }

// fp16 is ggml's GGML_FP32_TO_FP16: round to nearest even, subnormal halves
// kept, overflow to infinity, NaN to 0x7e00 with the input's sign.
KDEV u16 fp16(float f) {
  u32 b = f2u(x86nan(f));
  u16 sign = (u16)((b >> 16) & 0x8000);
  u32 a = b & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00;
  if (a >= 0x47800000u) return sign | 0x7c00;
  if (a >= 0x38800000u) {
    u32 v = a - (112u << 23);
    v += 0xfff + ((v >> 13) & 1);
    return sign | (u16)(v >> 13);
  }
  if (a < 0x33000000u) return sign;
  u32 e = a >> 23, m = (a & 0x7fffff) | 0x800000, shift = 126 - e;
  u32 q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return sign | (u16)q;
}

// fp16to32 widens a half exactly (NaN payloads kept).
KDEV float fp16to32(u16 h) {
  u32 sign = (u32)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0x1f) return u2f(sign | 0x7f800000u | (m << 13));
  if (e != 0) return u2f(sign | ((e + 112) << 23) | (m << 13));
  if (m == 0) return u2f(sign);
  u32 lz = 0;
  while (!(m & 0x400)) { m <<= 1; lz++; }
  return u2f(sign | ((113 - lz) << 23) | ((m & 0x3ff) << 13));
}

// f16_load widens a half as tensor.ToFloat32 does (x448/float16): as
// fp16to32, but a NaN gets the quiet bit.
KDEV float f16_load(u16 h) {
  if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) return u2f(((u32)(h & 0x8000) << 16) | 0x7fc00000u | ((u32)(h & 0x3ff) << 13));
  return fp16to32(h);
}

// f16 rounds to a half as tensor.FromFloat32 does (x448/float16): nearest
// even; a NaN keeps its top payload bits and gets the quiet bit.
KDEV u16 f16(float f) {
  u32 u = f2u(f), sign = u & 0x80000000u, exp = u & 0x7f800000u, coef = u & 0x007fffffu;
  if (exp == 0x7f800000u) return (u16)((sign >> 16) | 0x7c00u | (coef ? 0x200u : 0) | (coef >> 13));
  u32 hs = sign >> 16;
  i32 he = (i32)(exp >> 23) - 127 + 15;
  if (he >= 0x1f) return (u16)(hs | 0x7c00u);
  if (he <= 0) {
    if (14 - he > 24) return (u16)hs;
    u32 c = coef | 0x00800000u, hc = c >> (14 - he), rb = 1u << (13 - he);
    if ((c & rb) && (c & (3 * rb - 1))) hc++;
    return (u16)(hs | hc);
  }
  u32 r = hs | ((u32)he << 10) | (coef >> 13);
  if ((coef & 0x1000u) && (coef & (3 * 0x1000u - 1))) r++;
  return (u16)r;
}

// bf16 rounds to bfloat16 (nearest even; a NaN stays a quiet NaN), as
// tensor.BF16Bits.
KDEV u16 bf16(float v) {
  u32 u = f2u(v);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (u16)((u >> 16) | 64);
  return (u16)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

KDEV void put16(u8* p, u16 v) { p[0] = (u8)v; p[1] = (u8)(v >> 8); }
KDEV u16 get16(const u8* p) { return (u16)(p[0] | (p[1] << 8)); }
KDEV void put32(u8* p, u32 v) { p[0] = (u8)v; p[1] = (u8)(v >> 8); p[2] = (u8)(v >> 16); p[3] = (u8)(v >> 24); }

// Source dtypes a kernel reads (little-endian, as the files store them).
#define SRC_F32 0
#define SRC_F16 1
#define SRC_BF16 2

// load decodes n elements of a source dtype into x, exactly.
template <int SRC>
KDEV void load(const u8* in, i64 first, int n, float* x) {
  for (int i = 0; i < n; i++) {
    i64 e = first + i;
    if (SRC == SRC_F32) {
      const u8* p = in + 4 * e;
      x[i] = u2f((u32)p[0] | ((u32)p[1] << 8) | ((u32)p[2] << 16) | ((u32)p[3] << 24));
    } else if (SRC == SRC_F16) {
      x[i] = f16_load(get16(in + 2 * e));
    } else {
      x[i] = u2f((u32)get16(in + 2 * e) << 16);
    }
  }
}

// ENCODERS declares a block encoder's kernels for every source dtype:
// NAME_from_f32, NAME_from_f16, NAME_from_bf16 (in, out, nblocks), each
// thread decoding one block of BS elements and writing its BB bytes.
#define ENCODERS(NAME, BS, BB, FN)                                                   \
  template <int SRC>                                                                 \
  KDEV void NAME##_run(const u8* in, u8* out, i64 nblocks) {                         \
    i64 i = THREAD_ID;                                                               \
    if (i >= nblocks) return;                                                        \
    float x[BS];                                                                     \
    load<SRC>(in, i * (BS), BS, x);                                                  \
    FN(x, out + i * (BB));                                                           \
  }                                                                                  \
  KERNEL NAME##_from_f32(const u8* in, u8* out, i64 n) { NAME##_run<SRC_F32>(in, out, n); }   \
  KERNEL NAME##_from_f16(const u8* in, u8* out, i64 n) { NAME##_run<SRC_F16>(in, out, n); }   \
  KERNEL NAME##_from_bf16(const u8* in, u8* out, i64 n) { NAME##_run<SRC_BF16>(in, out, n); }
