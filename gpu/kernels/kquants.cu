// ggml's k-quant reference quantizers (quantize_row_q2_K_ref .. q6_K_ref
// and their scale searches make_qx_quants, make_q3_quants,
// make_qkx2_quants in ggml-quants.c), one 256-element super-block per
// thread, bit for bit as tensor/quant/k23.go, k456.go and kmake.go.
#include "common.cuh"

#define GROUP_MAX_EPS 1e-15f

// make_qx_quants with rmse_type 1 and no importance weights (w = x*x);
// L gets level+nmax.
KDEV float make_qx_quants(int n, int nmax, const float* x, i8* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    float ax = fabs32(x[i]);
    if (ax > amax) { amax = ax; max = x[i]; }
  }
  if (amax < GROUP_MAX_EPS) {
    for (int i = 0; i < n; i++) L[i] = 0;
    return 0;
  }
  float iscale = (float)(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; i++) {
    i32 l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = (i8)(l + nmax);
    float w = x[i] * x[i], fl = (float)l;
    float t = w * x[i];
    sumlx += t * fl;
    float u = w * fl;
    suml2 += u * fl;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    float step = 0.1f * (float)is;
    iscale = -((float)nmax + step) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; i++) {
      i32 l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      float w = x[i] * x[i], fl = (float)l;
      float t = w * x[i];
      sumlx += t * fl;
      float u = w * fl;
      suml2 += u * fl;
    }
    float lhs = sumlx * sumlx, rhs = best * suml2;
    if (suml2 > 0 && lhs > rhs) {
      for (int i = 0; i < n; i++) L[i] = (i8)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// make_q3_quants with do_rmse; L gets level+nmax.
KDEV float make_q3_quants(int n, int nmax, const float* x, i8* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    float ax = fabs32(x[i]);
    if (ax > amax) { amax = ax; max = x[i]; }
  }
  if (amax < GROUP_MAX_EPS) {
    for (int i = 0; i < n; i++) L[i] = 0;
    return 0;
  }
  float iscale = (float)(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; i++) {
    i32 l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = (i8)l;
    float w = x[i] * x[i], fl = (float)l;
    float t = w * x[i];
    sumlx += t * fl;
    float u = w * fl;
    suml2 += u * fl;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int changed = 0;
    for (int i = 0; i < n; i++) {
      float w = x[i] * x[i], fL = (float)L[i];
      float t = w * x[i];
      float slx = sumlx - t * fL;
      if (slx > 0) {
        float u = w * fL;
        float sl2 = suml2 - u * fL;
        float num = x[i] * sl2;
        i32 nl = clampi(nearest_int(num / slx), -nmax, nmax - 1);
        if (nl != L[i]) {
          float fn = (float)nl;
          slx += t * fn;
          float v = w * fn;
          sl2 += v * fn;
          float a = slx * slx, b = sumlx * sumlx;
          float lhs = a * suml2, rhs = b * sl2;
          if (sl2 > 0 && lhs > rhs) {
            L[i] = (i8)nl;
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; i++) L[i] = (i8)(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// make_qkx2_quants: x ~ scale*l - min, levels 0..nmax, min >= 0 returned
// in *the_min.
KDEV float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, u8* L, float* the_min,
                            u8* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    float w = weights[i];
    sum_w += w;
    float t = w * x[i];
    sum_x += t;
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = (float)nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    float dx = x[i] - min;
    i32 l = nearest_int(iscale * dx);
    L[i] = (u8)clampi(l, 0, nmax);
    float sl = scale * (float)L[i];
    float diff = (sl + min) - x[i];
    diff = use_mad ? fabs32(diff) : diff * diff;
    float t = weights[i] * diff;
    best_error += t;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    float st = rdelta * (float)is;
    iscale = ((rmin + st) + (float)nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      float dx = x[i] - min;
      i32 l = clampi(nearest_int(iscale * dx), 0, nmax);
      Laux[i] = (u8)l;
      float w = weights[i], fl = (float)l;
      float wl = w * fl;
      sum_l += wl;
      float a = wl * fl;
      sum_l2 += a;
      float b = wl * x[i];
      sum_xl += b;
    }
    float p = sum_w * sum_l2, q = sum_l * sum_l;
    float D = p - q;
    if (D > 0) {
      float a1 = sum_w * sum_xl, a2 = sum_x * sum_l;
      float this_scale = (a1 - a2) / D;
      float b1 = sum_l2 * sum_x, b2 = sum_l * sum_xl;
      float this_min = (b1 - b2) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float sl = this_scale * (float)Laux[i];
        float diff = (sl + this_min) - x[i];
        diff = use_mad ? fabs32(diff) : diff * diff;
        float t = weights[i] * diff;
        cur_error += t;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// pack2 stores 2-bit levels: byte l of each 32-byte run holds elements l,
// l+32, l+64 and l+96 of a 128-element half.
KDEV void pack2(u8* qs, const u8* L) {
  for (int j = 0; j < QKK; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = (u8)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// Q2_K block: scales[16], qs[64], d, dmin (84 bytes).
KDEV void q2_k(const float* x, u8* y) {
  u8 L[QKK], Laux[16];
  float weights[16], mins[16], scales[16];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weights[l] = fabs32(x[16 * j + l]);
    scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  u8* sc = y;
  if (max_scale > 0) {
    float iscale = 15.f / max_scale;
    for (int j = 0; j < 16; ++j) sc[j] = (u8)nearest_int(iscale * scales[j]);
    put16(y + 80, fp16(max_scale / 15.f));
  } else {
    for (int j = 0; j < 16; ++j) sc[j] = 0;
    put16(y + 80, 0);
  }
  if (max_min > 0) {
    float iscale = 15.f / max_min;
    for (int j = 0; j < 16; ++j) sc[j] |= (u8)(nearest_int(iscale * mins[j]) << 4);
    put16(y + 82, fp16(max_min / 15.f));
  } else {
    put16(y + 82, 0);
  }
  float dd = fp16to32(get16(y + 80)), dm = fp16to32(get16(y + 82));
  for (int j = 0; j < 16; ++j) {
    float d = dd * (float)(sc[j] & 0xF);
    if (!(d != 0)) continue;
    float m = dm * (float)(sc[j] >> 4);
    for (int ii = 0; ii < 16; ++ii) {
      float num = x[16 * j + ii] + m;
      L[16 * j + ii] = (u8)clampi(nearest_int(num / d), 0, 3);
    }
  }
  pack2(y + 16, L);
}

// Q3_K block: hmask[32], qs[64], scales[12], d (110 bytes).
KDEV void q3_k(const float* x, u8* y) {
  i8 L[QKK];
  float scales[16];
  float max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
    float s = fabs32(scales[j]);
    if (s > amax) { amax = s; max_scale = scales[j]; }
  }
  u8* sc = y + 96;
  for (int j = 0; j < 12; ++j) sc[j] = 0;
  if (max_scale != 0) {
    float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      i8 l = (i8)nearest_int(iscale * scales[j]);
      l = (i8)((l < -32 ? -32 : (l > 31 ? 31 : l)) + 32);
      if (j < 8) sc[j] = (u8)(l & 0xF);
      else sc[j - 8] |= (u8)((l & 0xF) << 4);
      l = (i8)(l >> 4);
      sc[j % 4 + 8] |= (u8)(l << (2 * (j / 4)));
    }
    put16(y + 108, fp16(1 / iscale));
  } else {
    put16(y + 108, 0);
  }
  float dd = fp16to32(get16(y + 108));
  for (int j = 0; j < 16; ++j) {
    i8 s = (i8)(j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4);
    s = (i8)((s | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
    float d = dd * (float)s;
    if (!(d != 0)) continue;
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = (i8)(clampi(nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
  }
  u8* hm = y;
  for (int j = 0; j < 32; ++j) hm[j] = 0;
  u8 lo[QKK];
  for (int j = 0; j < QKK; ++j) {
    u8 l = (u8)L[j];
    hm[j % 32] |= (u8)(((l >> 2) & 1) << (j / 32));
    lo[j] = l & 3;
  }
  pack2(y + 32, lo);
}

// fit_q45 is the shared group fit of Q4_K and Q5_K: scales and mins into
// y[4:16], half super-scales into y[0:4], levels 0..nmax into L.
KDEV void fit_q45(const float* x, u8* y, u8* L, int nmax, float rmin, float rdelta, int nstep) {
  u8 Laux[32];
  float weights[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) {
      float t = x[32 * j + l] * x[32 * j + l];
      sum_x2 += t;
    }
    float av_x = ksqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + fabs32(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  u8* sc = y + 4;
  for (int j = 0; j < 8; ++j) {
    u8 ls = (u8)nearest_int(inv_scale * scales[j]);
    u8 lm = (u8)nearest_int(inv_min * mins[j]);
    if (ls > 63) ls = 63;
    if (lm > 63) lm = 63;
    if (j < 4) {
      sc[j] = ls;
      sc[j + 4] = lm;
    } else {
      sc[j + 4] = (u8)((ls & 0xF) | ((lm & 0xF) << 4));
      sc[j - 4] |= (u8)((ls >> 4) << 6);
      sc[j] |= (u8)((lm >> 4) << 6);
    }
  }
  put16(y, fp16(max_scale / 63.f));
  put16(y + 2, fp16(max_min / 63.f));
  float dd = fp16to32(get16(y)), dm = fp16to32(get16(y + 2));
  for (int j = 0; j < 8; ++j) {
    u8 s, m;
    if (j < 4) {
      s = sc[j] & 63;
      m = sc[j + 4] & 63;
    } else {
      s = (u8)((sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4));
      m = (u8)((sc[j + 4] >> 4) | ((sc[j] >> 6) << 4));
    }
    float d = dd * (float)s;
    if (!(d != 0)) continue;
    float mm = dm * (float)m;
    for (int ii = 0; ii < 32; ++ii) {
      float num = x[32 * j + ii] + mm;
      L[32 * j + ii] = (u8)clampi(nearest_int(num / d), 0, nmax);
    }
  }
}

// Q4_K block: d, dmin, scales[12], qs[128] (144 bytes).
KDEV void q4_k(const float* x, u8* y) {
  u8 L[QKK];
  fit_q45(x, y, L, 15, -1.f, 0.1f, 20);
  u8* q = y + 16;
  for (int j = 0; j < QKK; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = (u8)(L[j + l] | (L[j + l + 32] << 4));
    q += 32;
  }
}

// Q5_K block: d, dmin, scales[12], qh[32], qs[128] (176 bytes).
KDEV void q5_k(const float* x, u8* y) {
  u8 L[QKK];
  fit_q45(x, y, L, 31, -0.5f, 0.1f, 15);
  u8 *qh = y + 16, *ql = y + 48;
  for (int j = 0; j < 32; ++j) qh[j] = 0;
  u8 m1 = 1, m2 = 2;
  for (int n = 0; n < QKK; n += 64) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j];
      if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
      int l2 = L[n + j + 32];
      if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
      ql[j] = (u8)(l1 | (l2 << 4));
    }
    m1 <<= 2;
    m2 <<= 2;
    ql += 32;
  }
}

// Q6_K block: ql[128], qh[64], scales[16], d (210 bytes).
KDEV void q6_k(const float* x, u8* y) {
  i8 L[QKK];
  float scales[16];
  float max_scale = 0, max_abs = 0;
  for (int ib = 0; ib < 16; ++ib) {
    scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
    float a = fabs32(scales[ib]);
    if (a > max_abs) { max_abs = a; max_scale = scales[ib]; }
  }
  if (max_abs < GROUP_MAX_EPS) {
    for (int i = 0; i < 210; ++i) y[i] = 0;
    return;
  }
  float iscale = -128.f / max_scale;
  put16(y + 208, fp16(1 / iscale));
  i8* sc = (i8*)(y + 192);
  for (int ib = 0; ib < 16; ++ib) {
    i32 l = nearest_int(iscale * scales[ib]);
    sc[ib] = (i8)(l < 127 ? l : 127);
  }
  float dd = fp16to32(get16(y + 208));
  for (int j = 0; j < 16; ++j) {
    float d = dd * (float)sc[j];
    if (!(d != 0)) continue;
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = (i8)(clampi(nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
  }
  u8 *ql = y, *qh = y + 128;
  for (int j = 0; j < QKK; j += 128) {
    for (int l = 0; l < 32; ++l) {
      u8 q1 = (u8)L[j + l], q2 = (u8)L[j + l + 32], q3 = (u8)L[j + l + 64], q4 = (u8)L[j + l + 96];
      ql[l] = (u8)((q1 & 0xF) | (q3 << 4));
      ql[l + 32] = (u8)((q2 & 0xF) | (q4 << 4));
      qh[l] = (u8)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

ENCODERS(q2_k, QKK, 84, q2_k)
ENCODERS(q3_k, QKK, 110, q3_k)
ENCODERS(q4_k, QKK, 144, q4_k)
ENCODERS(q5_k, QKK, 176, q5_k)
ENCODERS(q6_k, QKK, 210, q6_k)
