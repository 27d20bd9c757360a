// ggml's first-generation 32-element block quantizers (quantize_row_q4_0_ref
// and the rest in ggml-quants.c), one block per thread, bit for bit as
// tensor/quant/legacy.go.
#include "common.cuh"

// absmax_signed: the largest magnitude and the signed value having it (the
// first one on ties), compared as ggml compares (strictly greater).
KDEV float absmax_signed(const float* x, int n, float* amax) {
  float a = 0, m = 0;
  for (int i = 0; i < n; i++) {
    float v = fabs32(x[i]);
    if (a < v) { a = v; m = x[i]; }
  }
  *amax = a;
  return m;
}

// min_max starts at +-FLT_MAX and replaces only on strict inequality.
KDEV void min_max(const float* x, int n, float* lo, float* hi) {
  float l = 3.40282347e+38f, h = -3.40282347e+38f;
  for (int i = 0; i < n; i++) {
    if (x[i] < l) l = x[i];
    if (x[i] > h) h = x[i];
  }
  *lo = l;
  *hi = h;
}

KDEV float inverse(float d) { return d != 0 ? 1.0f / d : 0.0f; }

// to_i8 is C's (int8_t) of a float on x86-64: truncate to int32, keep the
// low byte.
KDEV i8 to_i8(float v) { return (i8)cvt32(v); }

KDEV void q4_0(const float* x, u8* y) {
  float amax, max = absmax_signed(x, QK, &amax);
  float d = max / -8.0f, id = inverse(d);
  put16(y, fp16(d));
  for (int j = 0; j < QK / 2; j++) {
    float x0 = x[j] * id, x1 = x[QK / 2 + j] * id;
    i8 a = to_i8(x0 + 8.5f), b = to_i8(x1 + 8.5f);
    if (a > 15) a = 15;
    if (b > 15) b = 15;
    y[2 + j] = (u8)((u8)a | ((u8)b << 4));
  }
}

KDEV void q4_1(const float* x, u8* y) {
  float lo, hi;
  min_max(x, QK, &lo, &hi);
  float d = (hi - lo) / 15.0f, id = inverse(d);
  put16(y, fp16(d));
  put16(y + 2, fp16(lo));
  for (int j = 0; j < QK / 2; j++) {
    float x0 = (x[j] - lo) * id, x1 = (x[QK / 2 + j] - lo) * id;
    i8 a = to_i8(x0 + 0.5f), b = to_i8(x1 + 0.5f);
    if (a > 15) a = 15;
    if (b > 15) b = 15;
    y[4 + j] = (u8)((u8)a | ((u8)b << 4));
  }
}

KDEV void q5_0(const float* x, u8* y) {
  float amax, max = absmax_signed(x, QK, &amax);
  float d = max / -16.0f, id = inverse(d);
  put16(y, fp16(d));
  u32 qh = 0;
  for (int j = 0; j < QK / 2; j++) {
    float x0 = x[j] * id, x1 = x[QK / 2 + j] * id;
    i8 a = to_i8(x0 + 16.5f), b = to_i8(x1 + 16.5f);
    if (a > 31) a = 31;
    if (b > 31) b = 31;
    u8 xa = (u8)a, xb = (u8)b;
    y[6 + j] = (u8)((xa & 0xf) | ((xb & 0xf) << 4));
    qh |= ((u32)(xa & 0x10) >> 4) << j;
    qh |= ((u32)(xb & 0x10) >> 4) << (j + QK / 2);
  }
  put32(y + 2, qh);
}

KDEV void q5_1(const float* x, u8* y) {
  float lo, hi;
  min_max(x, QK, &lo, &hi);
  float d = (hi - lo) / 31.0f, id = inverse(d);
  put16(y, fp16(d));
  put16(y + 2, fp16(lo));
  u32 qh = 0;
  for (int j = 0; j < QK / 2; j++) {
    float x0 = (x[j] - lo) * id, x1 = (x[QK / 2 + j] - lo) * id;
    u8 xa = (u8)cvt32(x0 + 0.5f), xb = (u8)cvt32(x1 + 0.5f);
    y[8 + j] = (u8)((xa & 0xf) | ((xb & 0xf) << 4));
    qh |= ((u32)(xa & 0x10) >> 4) << j;
    qh |= ((u32)(xb & 0x10) >> 4) << (j + QK / 2);
  }
  put32(y + 4, qh);
}

// q8_0 rounds halves away from zero (C's roundf) through a double: v plus
// half of v's sign is exact there, and truncation rounds it.
KDEV void q8_0(const float* x, u8* y) {
  float amax = 0;
  for (int j = 0; j < QK; j++) {
    float a = fabs32(x[j]);
    if (!(amax > a)) amax = a;
  }
  float d = amax / 127.0f, id = inverse(d);
  put16(y, fp16(d));
  for (int j = 0; j < QK; j++) {
    double v = (double)x86nan(x[j] * id);
    double h = (f2u((float)v) >> 31) ? -0.5 : 0.5;  // copysign, NaN's sign included
    y[2 + j] = (u8)(i8)cvt64(v + h);
  }
}

ENCODERS(q4_0, QK, 18, q4_0)
ENCODERS(q4_1, QK, 20, q4_1)
ENCODERS(q5_0, QK, 22, q5_0)
ENCODERS(q5_1, QK, 24, q5_1)
ENCODERS(q8_0, QK, 34, q8_0)
